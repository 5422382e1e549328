-- threshold{...}: suite-level gates over the runs of a file or describe block (minimum
-- pass rates, mean scores). Gates are judged from report data alone, so that a report
-- merged from shards is judged exactly like an unsharded run.
local duration = require "evalua.duration"
local errors = require "evalua.errors"
local stats = require "evalua.runner.stats"

local threshold = {}

local function percent(r) return ("%.4g%%"):format(r * 100) end

-- How each kind of gate is titled, measured and shown.
local kinds = {
  pass_rate = {
    title = function(g) return ("pass rate >= %s"):format(percent(g.min)) end,
    measure = function(_, runs)
      local rate, passed, counted = stats.pass_rate(runs)
      return rate, rate and ("%s (%d of %d cases)"):format(percent(rate), passed, counted)
    end,
    missing = "no case has a verdict",
  },
  metric = {
    title = function(g) return ("%s pass rate >= %s"):format(g.metric, percent(g.min)) end,
    measure = function(g, runs)
      local rate, passed, counted = stats.pass_rate(runs, g.metric)
      return rate, rate and ("%s (%d of %d)"):format(percent(rate), passed, counted)
    end,
    missing = "no case has a verdict for this metric",
  },
  score = {
    title = function(g) return ("mean %s score >= %.4g"):format(g.metric, g.min) end,
    measure = function(g, runs)
      local scores = stats.scores(runs, g.metric)
      local mean = stats.mean(scores)
      return mean, mean and ("%.4g (mean of %d)"):format(mean, #scores)
    end,
    missing = "no case has a score for this metric",
  },
  tests = {
    title = function(g) return ("tests passing >= %s"):format(percent(g.min)) end,
    measure = function(_, _, tests)
      local passed, judged = 0, 0
      for _, t in ipairs(tests) do
        local ok = t.outcome == "passed" or t.outcome == "flaky"
        if ok or t.outcome == "failed" then
          judged = judged + 1
          if ok then passed = passed + 1 end
        end
      end
      if judged == 0 then return nil end
      return passed / judged, ("%s (%d of %d tests)"):format(percent(passed / judged), passed, judged)
    end,
    missing = "no test passed or failed",
  },
}

-- Usage gates: ceilings on latency percentiles (ms), total cost and total tokens, over
-- the cases of the runs in scope that report the figure.
local function usage_kind(part, field, what, show)
  return {
    title = function(g) return ("%s <= %s"):format(what, show(g.max)) end,
    measure = function(_, runs)
      local u = stats.usage(stats.cases(runs))[part]
      if not u then return nil end
      if part == "cost" and u.currency == "mixed" then
        return nil, nil, "costs are in several currencies: not summed"
      end
      return u[field], ("%s (%d %s)"):format(show(u[field]), u.count, u.count == 1 and "case" or "cases")
    end,
    missing = "no case reports " .. (part == "tokens" and "token usage" or part),
    ceiling = true,
    expected = function(g) return "<= " .. show(g.max) end,
  }
end

local function plain(v) return ("%.6g"):format(v) end

local ms = stats.ms
local USAGE_GATES = {
  latency_p50 = usage_kind("latency", "p50", "latency p50", ms),
  latency_p95 = usage_kind("latency", "p95", "latency p95", ms),
  latency_max = usage_kind("latency", "max", "latency max", ms),
  cost_total = usage_kind("cost", "total", "total cost", plain),
  tokens_total = usage_kind("tokens", "total", "total tokens", plain),
}
for name, kind in pairs(USAGE_GATES) do kinds[name] = kind end
local USAGE_ORDER = { "latency_p50", "latency_p95", "latency_max", "tokens_total", "cost_total" }

-- A latency ceiling: a duration string with its unit ("3s", "500ms") or a number of
-- milliseconds. A bare number in a string ("3000") is refused: seconds or milliseconds?
local function check_latency(v, key)
  if type(v) == "number" and v >= 0 then return v end
  local secs = type(v) == "string" and v:find("%a") and duration.parse(v)
  if not secs then
    errors.argerror(1, "threshold", ("%s must be a duration (\"3s\", \"500ms\") or milliseconds, got %s")
      :format(key, type(v) == "string" and ("'" .. v .. "'") or type(v)))
  end
  return secs * 1000
end

local function check_ceiling(v, key)
  if type(v) ~= "number" or v < 0 or v ~= v then
    errors.argerror(1, "threshold", ("%s must be a number >= 0, got %s"):format(key, tostring(v)))
  end
  return v
end

local function check_rate(v, key)
  if type(v) ~= "number" or v < 0 or v > 1 then
    errors.argerror(1, "threshold", ("%s must be a number from 0 to 1, got %s"):format(key, tostring(v)))
  end
  return v
end

local function check_map(v, key, check)
  if type(v) ~= "table" then errors.argerror(1, "threshold", key .. " must be a table of metric = minimum") end
  local names = {}
  for name in pairs(v) do
    if type(name) ~= "string" then errors.argerror(1, "threshold", key .. " keys must be metric names") end
    names[#names + 1] = name
  end
  table.sort(names)
  local list = {}
  for _, name in ipairs(names) do list[#list + 1] = { metric = name, min = check(v[name], key .. "." .. name) } end
  return list
end

local function check_number(v, key)
  if type(v) ~= "number" then errors.argerror(1, "threshold", key .. " must be a number, got " .. type(v)) end
  return v
end

-- The gates a threshold{...} declares, in a stable order:
-- pass_rate = P (cases passing every metric), metrics = {name = P}, scores = {name = S},
-- tests = P (share of tests that passed).
function threshold.gates(spec)
  if type(spec) ~= "table" then errors.argerror(1, "threshold", "table expected, got " .. type(spec)) end
  for k in pairs(spec) do
    if k ~= "pass_rate" and k ~= "metrics" and k ~= "scores" and k ~= "tests" and not USAGE_GATES[k] then
      errors.argerror(1, "threshold", "unknown key " .. tostring(k) .. " (pass_rate, metrics, scores, tests, "
        .. table.concat(USAGE_ORDER, ", ") .. ")")
    end
  end
  local gates = {}
  if spec.pass_rate ~= nil then
    gates[#gates + 1] = { gate = "pass_rate", min = check_rate(spec.pass_rate, "pass_rate") }
  end
  for _, g in ipairs(spec.metrics and check_map(spec.metrics, "metrics", check_rate) or {}) do
    g.gate = "metric"; gates[#gates + 1] = g
  end
  for _, g in ipairs(spec.scores and check_map(spec.scores, "scores", check_number) or {}) do
    g.gate = "score"; gates[#gates + 1] = g
  end
  if spec.tests ~= nil then gates[#gates + 1] = { gate = "tests", min = check_rate(spec.tests, "tests") } end
  for _, k in ipairs(USAGE_ORDER) do
    if spec[k] ~= nil then
      gates[#gates + 1] = { gate = k, max = (k:find("^latency") and check_latency or check_ceiling)(spec[k], k) }
    end
  end
  if #gates == 0 then errors.argerror(1, "threshold", "no gate given (pass_rate, metrics, scores, tests, ...)") end
  return gates
end

function threshold.title(gate)
  return "threshold: " .. kinds[gate.gate].title(gate)
end

local function within(path, scope)
  for i, name in ipairs(scope) do
    if path[i] ~= name then return false end
  end
  return true
end

-- The tests and runs a gate entry covers in session `data`.
local function scope(e, data)
  local tests, runs = {}, {}
  for _, t in ipairs(data.tests or {}) do
    if t.kind == "test" and t.file == e.file and within(t.path or {}, e.path or {}) then
      tests[#tests + 1] = t
      for _, r in ipairs(t.runs or {}) do runs[#runs + 1] = r end
    end
  end
  for _, f in ipairs(data.files or {}) do
    if f.path == e.file then
      for _, r in ipairs(f.runs or {}) do
        if within(r.scope or {}, e.path or {}) then runs[#runs + 1] = r end
      end
    end
  end
  return tests, runs
end

-- Judge gate entry `e` against session data: sets outcome, actual and a failure.
function threshold.evaluate(e, data)
  local kind = kinds[e.gate.gate]
  local tests, runs = scope(e, data)
  e.failures, e.skip_reason, e.actual = {}, nil, nil
  if #tests < (e.scope_total or 0) then
    e.outcome = "skipped"
    e.skip_reason = ("only %d of the %d tests it covers are in this report; judged when shard reports are merged")
      :format(#tests, e.scope_total)
    return e
  end
  local value, shown, why = kind.measure(e.gate, runs, tests)
  local unfinished = 0
  for _, t in ipairs(tests) do
    if t.outcome == "infra" or t.outcome == "error" or t.outcome == "skipped" then unfinished = unfinished + 1 end
  end
  -- No data is a failure (a misspelt metric must not pass) unless tests did not
  -- finish or --filter/--tag left out the tests that would have measured it.
  if value == nil and (unfinished > 0 or e.selected) then
    e.outcome = "skipped"
    e.skip_reason = unfinished > 0 and ("no data: %d of %d tests did not finish"):format(unfinished, #tests)
      or "no data among the selected tests"
    return e
  end
  e.actual = shown or why or kind.missing
  local met = value ~= nil and (kind.ceiling and value <= e.gate.max or not kind.ceiling and value >= e.gate.min)
  e.outcome = met and "passed" or "failed"
  if e.outcome == "failed" then
    e.failures[1] = {
      message = ("%s not met: %s"):format(e.name, e.actual),
      expected = kind.expected and kind.expected(e.gate)
        or ">= " .. (e.gate.gate == "score" and ("%.4g"):format(e.gate.min) or percent(e.gate.min)),
      actual = e.actual, file = e.file, line = e.line,
    }
  end
  return e
end

return threshold
