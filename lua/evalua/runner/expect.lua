-- expect(value):matcher(...) assertions. A failed expectation raises a Failure that
-- carries the user's file:line, expected and actual, and for tables the path to the
-- first difference. Negation is `expect(x).never:to_equal(y)`, for every matcher.
local diff = require "evalua.runner.diff"
local errors = require "evalua.errors"
local stats = require "evalua.runner.stats"
local where = require "evalua.runner.where"

local show = diff.show

local Failure = { __name = "evalua.expectation" }
Failure.__index = Failure

function Failure.__tostring(f)
  local lines = { f.message }
  if f.file then lines[1] = ("%s:%s: %s"):format(f.file, f.line, f.message) end
  if f.diff then lines[#lines + 1] = "  " .. f.diff end
  return table.concat(lines, "\n")
end

local expect = { Failure = Failure }

function expect.is_failure(v)
  return getmetatable(v) == Failure
end

-- A Failure located at the user's line; `fields` has message, expected, actual, diff.
function expect.failure(fields)
  fields.file, fields.line = where.user_frame()
  return setmetatable(fields, Failure)
end

-- A wrong argument is a bug in the test: "bad argument" at the user's line.
local function check_arg(cond, n, fname, msg)
  if not cond then errors.argerror(n, fname, msg) end
end

local function check_type(v, want, n, fname)
  check_arg(type(v) == want, n, fname, ("%s expected, got %s"):format(want, type(v)))
end

-- Matchers: function(actual, ...) -> ok, desc. desc.text completes "expected <subject>
-- [not] ..."; desc.expected/actual override the rendered values; desc.detail explains
-- a positive failure; desc.diff is the first difference of tables.
local matchers = {}

function matchers.to_equal(actual, expected)
  local path, e, a = diff.first_difference(expected, actual)
  return path == nil, {
    text = "to equal " .. show(expected),
    expected = show(expected),
    diff = path and type(expected) == "table" and type(actual) == "table"
      and ("first difference at %s: expected %s, got %s"):format(path, show(e), show(a)) or nil,
  }
end

function matchers.to_be(actual, expected)
  return rawequal(actual, expected), { text = "to be " .. show(expected), expected = show(expected) }
end

function matchers.to_be_truthy(actual)
  return not not actual, { text = "to be truthy", expected = "truthy" }
end

function matchers.to_be_nil(actual)
  return actual == nil, { text = "to be nil", expected = "nil" }
end

local function compare(fname, op, words)
  matchers[fname] = function(actual, n)
    check_type(n, "number", 1, fname)
    if type(actual) ~= "number" then
      return false, { text = words .. " " .. show(n), detail = "  not a number: " .. type(actual) }
    end
    return op(actual, n), { text = words .. " " .. show(n), expected = words:gsub("^to be ", "") .. " " .. show(n) }
  end
end
compare("to_be_at_least", function(a, n) return a >= n end, "to be at least")
compare("to_be_at_most", function(a, n) return a <= n end, "to be at most")

-- Whether `s` matches the Lua pattern argument #n of `fname`; a malformed pattern is a
-- bad argument (Lua only notices it while matching, so it is tried on `s` itself).
local function find_pattern(s, pattern, n, fname)
  check_type(pattern, "string", n, fname)
  local ok, found = pcall(string.find, s, pattern)
  if not ok then
    check_arg(false, n, fname, tostring(found):gsub("^[^\n]-:%d+: ", ""))
  end
  return found ~= nil
end

function matchers.to_match(actual, pattern)
  check_type(pattern, "string", 1, "to_match")
  local text = "to match " .. show(pattern)
  if type(actual) ~= "string" then
    find_pattern("", pattern, 1, "to_match")
    return false, { text = text, detail = "  not a string: " .. type(actual) }
  end
  return find_pattern(actual, pattern, 1, "to_match"), { text = text, expected = "matching " .. show(pattern) }
end

function matchers.to_contain(actual, item)
  local text = "to contain " .. show(item)
  if type(actual) == "string" then
    check_type(item, "string", 1, "to_contain")
    return actual:find(item, 1, true) ~= nil, { text = text, expected = "containing " .. show(item) }
  end
  if type(actual) ~= "table" then
    return false, { text = text, detail = "  not a string or table: " .. type(actual) }
  end
  for _, v in pairs(actual) do
    if diff.equal(item, v) then return true, { text = text } end
  end
  return false, { text = text, expected = "containing " .. show(item) }
end

-- Lua type names, "integer"/"float", or a metatable's __name ("evalua.error").
local function type_names(v)
  local mt = getmetatable(v)
  return type(v), math.type(v), type(mt) == "table" and rawget(mt, "__name") or nil
end

function matchers.to_be_a(actual, name)
  check_type(name, "string", 1, "to_be_a")
  local a, b, c = type_names(actual)
  return name == a or name == b or name == c,
    { text = "to be a " .. name, expected = name, actual = c or b or a }
end

function matchers.to_be_json(actual, expected)
  local text = "to be JSON" .. (expected ~= nil and (" equal to " .. show(expected)) or "")
  if type(actual) ~= "string" then return false, { text = text, detail = "  not a string: " .. type(actual) } end
  local ok, value = pcall(require("cjson").decode, actual)
  if not ok then return false, { text = text, detail = "  " .. tostring(value) } end
  if expected == nil then return true, { text = text } end
  local result, desc = matchers.to_equal(value, expected)
  desc.text = text
  return result, desc
end

function matchers.to_raise(actual, pattern)
  check_type(actual, "function", 0, "expect")
  if pattern ~= nil then find_pattern("", pattern, 1, "to_raise") end
  local text = "to raise an error" .. (pattern and (" matching " .. show(pattern)) or "")
  local ok, err = pcall(actual)
  if ok then return false, { text = text, actual = "no error" } end
  return pattern == nil or find_pattern(tostring(err), pattern, 1, "to_raise"),
    { text = text, actual = "error " .. show(tostring(err)) }
end

-- Domain matchers over runs and cases ----------------------------------------------

-- A run has cases and says which service and run it is; a case is any other table.
local function is_run(v)
  return type(v) == "table" and type(v.cases) == "table" and (v.provider ~= nil or v.id ~= nil)
end

local function subject(v)
  if is_run(v) then return ("run %s:%s"):format(tostring(v.provider), tostring(v.id)) end
  if type(v) == "table" and v.name then return "case " .. show(v.name) end
  return show(v)
end

local function describe_metric(m)
  local parts = { tostring(m.name) }
  local verdict = stats.flag(m.passed)
  if verdict ~= nil then parts[#parts + 1] = verdict and "passed" or "FAILED" end
  if stats.number(m.score) then parts[#parts + 1] = "score " .. show(m.score) end
  for _, k in ipairs({ "expected", "actual", "reason", "error" }) do
    local v = m[k]
    if type(v) == "string" and v ~= "" or type(v) == "number" then parts[#parts + 1] = k .. " " .. show(v) end
  end
  return table.concat(parts, ", ")
end

local function metric_names(case)
  local names = {}
  for _, m in ipairs(stats.metrics(case)) do names[#names + 1] = tostring(m.name) end
  return #names > 0 and table.concat(names, ", ") or "none"
end

local function find_metric(case, name)
  local m = stats.metric(case, name)
  if not m then return nil, ("no metric %s (has: %s)"):format(show(name), metric_names(case)) end
  return m
end

local MAX_LISTED = 10

-- A matcher from a per-case predicate; on a run it must hold for every case.
-- `check_args(...)` checks the matcher's arguments once, whatever the subject (a run
-- without cases included).
local function case_matcher(fname, text_of, pred, check_args)
  matchers[fname] = function(actual, ...)
    if check_args then check_args(...) end
    local text = text_of(...)
    local function result(ok, desc)
      desc.subject = subject(actual)
      return ok, desc
    end
    if type(actual) ~= "table" then
      return result(false, { text = text, detail = "  not a run or case: " .. type(actual) })
    end
    if not is_run(actual) then
      local ok, why = pred(actual, ...)
      return result(ok, { text = text, actual = why, detail = why and ("  " .. why) })
    end
    local cases, bad = stats.cases(actual), {}
    for i, case in ipairs(cases) do
      local ok, why = pred(case, ...)
      if not ok then
        bad[#bad + 1] = ("  case %s: %s"):format(show(case.name or i), why)
      end
    end
    local failing = #bad
    if #cases == 0 then bad[1] = "  the run has no cases (status " .. tostring(actual.status) .. ")" end
    if failing > MAX_LISTED then
      bad = table.move(bad, 1, MAX_LISTED, 1, {})
      bad[#bad + 1] = ("  … and %d more"):format(failing - MAX_LISTED)
    end
    local detail = table.concat(bad, "\n")
    return result(#bad == 0, { text = text, detail = detail, actual = ("%d of %d cases failed"):format(failing, #cases) })
  end
end

case_matcher("to_pass", function() return "to pass every metric" end, function(case)
  local verdict = stats.case_verdict(case)
  if verdict then return true end
  if verdict == nil then return false, "no verdict (no metric passed or failed)" end
  local failing = {}
  if stats.present(case.error) then
    failing[1] = "error " .. show(case.error)
  elseif case.status == "error" or case.status == "failed" then
    failing[1] = "status " .. tostring(case.status)
  end
  for _, m in ipairs(stats.metrics(case)) do
    if stats.flag(m.passed) == false then failing[#failing + 1] = describe_metric(m) end
  end
  return false, table.concat(failing, "; ")
end)

-- The argument check of a matcher taking a metric name first.
local function metric_name_arg(fname)
  return function(name) check_type(name, "string", 1, fname) end
end

case_matcher("to_have_metric", function(name) return "to have metric " .. show(name) end,
  function(case, name)
    local m, why = find_metric(case, name)
    return m ~= nil, why
  end, metric_name_arg("to_have_metric"))

case_matcher("to_pass_metric", function(name) return "to pass metric " .. show(name) end,
  function(case, name)
    local m, why = find_metric(case, name)
    if not m then return false, why end
    return stats.flag(m.passed) == true, describe_metric(m)
  end, metric_name_arg("to_pass_metric"))

case_matcher("to_score_at_least", function(name, n)
  return ("to score at least %s on %s"):format(show(n), show(name))
end, function(case, name, n)
  local m, why = find_metric(case, name)
  if not m then return false, why end
  local score = stats.number(m.score)
  return score ~= nil and score >= n, describe_metric(m)
end, function(name, n)
  check_type(name, "string", 1, "to_score_at_least")
  check_type(n, "number", 2, "to_score_at_least")
end)

function matchers.to_be_completed(actual)
  local text = "to be completed"
  if not is_run(actual) then return false, { text = text, detail = "  not a run: " .. type(actual) } end
  local detail = "  status " .. tostring(actual.status)
  if actual.raw_status ~= nil then detail = detail .. " (service said " .. tostring(actual.raw_status) .. ")" end
  if actual.error ~= nil then detail = detail .. "\n  error " .. show(actual.error) end
  return actual.status == "completed", { text = text, subject = subject(actual), expected = "completed",
    actual = tostring(actual.status), detail = detail }
end

function matchers.to_have_pass_rate_at_least(actual, p, name)
  check_type(p, "number", 1, "to_have_pass_rate_at_least")
  local text = ("to have a pass rate of at least %s%s"):format(show(p), name and (" on " .. show(name)) or "")
  if not (is_run(actual) or type(actual) == "table" and is_run(actual[1])) then
    return false, { text = text, detail = "  not a run or list of runs: " .. type(actual) }
  end
  local rate, passed, counted = stats.pass_rate(actual, name)
  local got = rate and ("%.4g (%d of %d)"):format(rate, passed, counted) or "no verdicts"
  return rate ~= nil and rate >= p, { text = text, subject = subject(actual), expected = ">= " .. show(p),
    actual = got, detail = "  pass rate " .. got }
end

-- The expectation object ------------------------------------------------------------

local Expectation = { __name = "evalua.expect" }

-- Fields live at [1] (the value, possibly nil) and `negated`; every other string key
-- is a matcher, or `never` for the negated expectation.
function Expectation.__index(self, key)
  if key == "never" then
    return setmetatable({ rawget(self, 1), negated = not self.negated }, Expectation)
  end
  if type(key) ~= "string" then return nil end
  local matcher = matchers[key]
  if not matcher then error(errors.where() .. "expect(...) has no matcher '" .. key .. "'", 0) end
  return function(exp, ...)
    check_arg(getmetatable(exp) == Expectation, 0, key, "call it with ':' as in expect(x):" .. key .. "(...)")
    local actual = rawget(exp, 1)
    local ok, desc = matcher(actual, ...)
    if ok == exp.negated then
      local fail = expect.failure({
        matcher = (exp.negated and "never:" or "") .. key,
        message = ("expected %s %s%s"):format(desc.subject or show(actual), exp.negated and "not " or "", desc.text),
        expected = (exp.negated and "not " or "") .. (desc.expected or desc.text:gsub("^to ", "")),
        actual = desc.actual or show(actual),
        diff = not exp.negated and desc.diff or nil,
      })
      if not exp.negated and desc.detail and desc.detail ~= "" then
        fail.message = fail.message .. "\n" .. desc.detail
      end
      error(fail, 0)
    end
    return exp
  end
end

function expect.expect(value)
  return setmetatable({ value, negated = false }, Expectation)
end

expect.matchers = matchers

return expect
