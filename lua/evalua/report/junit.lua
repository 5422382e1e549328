-- JUnit XML as Jenkins, GitLab and GitHub read it: testsuites > testsuite (one per
-- file) > testcase with failure / error / skipped; infra errors are <error type="infra.KIND">
-- so they stay apart from bugs in tests. Per-case metrics go to <system-out>. Retries
-- are written as Maven Surefire writes reruns: a test that passed on a retry holds a
-- <flakyFailure>/<flakyError> per failed attempt, one that never passed a
-- <rerunFailure>/<rerunError> per earlier attempt; the repeats of a test with a pass
-- rate are written the same way inside that test.
local markup = require "evalua.report.markup"
local report = require "evalua.report"
local stats = require "evalua.runner.stats"

local esc = markup.escape

local junit = {}

-- name="value" pairs; a whole number read back from JSON as a float stays whole
-- (line="11", not "11.0", which the schema's integer types refuse).
local function attrs(list)
  local out = {}
  for i = 1, #list, 2 do
    local v = list[i + 1]
    if v ~= nil then out[#out + 1] = ('%s="%s"'):format(list[i], esc(math.tointeger(v) or v)) end
  end
  return table.concat(out, " ")
end

local function seconds(t) return ("%.3f"):format(t or 0) end

local function counts(tests)
  local c = { tests = #tests, failures = 0, errors = 0, skipped = 0, time = 0 }
  for _, t in ipairs(tests) do
    if t.outcome == "failed" or t.outcome == "no_verdict" then c.failures = c.failures + 1
    elseif t.outcome == "error" or t.outcome == "infra" then c.errors = c.errors + 1
    elseif t.outcome == "skipped" then c.skipped = c.skipped + 1 end
    c.time = c.time + (t.duration or 0)
  end
  return c
end

local function failure_text(f)
  local lines = { f.message }
  if f.file then lines[#lines + 1] = ("at %s:%s"):format(f.file, f.line or "?") end
  if f.expected ~= nil then lines[#lines + 1] = "expected: " .. f.expected end
  if f.actual ~= nil then lines[#lines + 1] = "actual:   " .. f.actual end
  if f.diff then lines[#lines + 1] = f.diff end
  return table.concat(lines, "\n")
end

-- One line per case and metric of the runs, for <system-out>.
function junit.metrics_text(runs)
  local lines = {}
  for _, run in ipairs(runs or {}) do
    lines[#lines + 1] = ("run %s:%s %s"):format(run.provider or "?", run.id or "?", run.status or "?")
    for i, case in ipairs(run.cases or {}) do
      local verdict = stats.case_verdict(case)
      lines[#lines + 1] = ("  case %s %s"):format(case.name or i,
        verdict == true and "passed" or verdict == false and "FAILED" or "no verdict")
      for _, m in ipairs(stats.metrics(case)) do
        local flag = stats.flag(m.passed)
        local parts = { "    " .. tostring(m.name), flag == true and "PASS" or flag == false and "FAIL" or "-" }
        if stats.number(m.score) then parts[#parts + 1] = ("score=%.4g"):format(m.score) end
        if m.expected ~= nil then parts[#parts + 1] = "expected=" .. tostring(m.expected) end
        if m.actual ~= nil then parts[#parts + 1] = "actual=" .. tostring(m.actual) end
        if m.reason ~= nil then parts[#parts + 1] = "reason=" .. tostring(m.reason) end
        lines[#lines + 1] = table.concat(parts, " ")
      end
    end
  end
  return table.concat(lines, "\n")
end

-- A test's or file's output, then the metrics of its runs (decoded one owner at a time).
local function output_text(owner)
  local text, runs = {}, report.runs(owner)
  if owner.output then text[#text + 1] = owner.output end
  if #runs > 0 then text[#text + 1] = junit.metrics_text(runs) end
  return table.concat(text, "\n")
end

local function system_out(out, text, indent)
  if text and text ~= "" then out[#out + 1] = indent .. "<system-out>" .. esc(text) .. "</system-out>" end
end

-- The file as a dotted name, relative to the working directory (an absolute path would
-- give ".tmp.suite.x_test").
local function classname(path)
  local cwd = (os.getenv("PWD") or ""):gsub("/*$", "/")
  if cwd ~= "/" and path:sub(1, #cwd) == cwd then path = path:sub(#cwd + 1) end
  return (path:gsub("%.lua$", ""):gsub("^%./", ""):gsub("^/+", ""):gsub("[/\\]", "."))
end

local function attempt_message(a)
  if a.error then return a.error.message or "" end
  local f = a.failures and a.failures[1]
  return f and f.message or a.outcome
end

-- A failed attempt (of a retried test, or a repeat) as a Surefire rerun element:
-- `which` is "flaky" (the test passed in the end) or "rerun".
local function rerun(out, which, a)
  local is_error = a.outcome == "error" or a.outcome == "infra"
  local name = which .. (is_error and "Error" or "Failure")
  local kind = a.outcome == "infra" and ("infra." .. ((a.error or {}).kind or "error"))
    or (is_error and "error" or a.outcome)
  local msg = attempt_message(a)
  out[#out + 1] = ("      <%s %s>"):format(name, attrs({ "message", msg:match("^[^\n]*"), "type", kind }))
  local body = {}
  if a.error then
    body[1] = a.error.traceback and (msg .. "\n" .. a.error.traceback) or msg
  end
  for _, f in ipairs(a.failures or {}) do body[#body + 1] = failure_text(f) end
  body = table.concat(body, "\n")
  if body ~= "" then out[#out + 1] = "        <stackTrace>" .. esc(body) .. "</stackTrace>" end
  if a.output then out[#out + 1] = "        <system-out>" .. esc(a.output) .. "</system-out>" end
  out[#out + 1] = ("      </%s>"):format(name)
end

-- The attempts that did not pass, before the last (a retried test), or the repeats that
-- did not pass (a pass-rate test), as {outcome, error, failures, output}.
local function earlier(t, repeats_of)
  local list = {}
  if t.kind == "pass_rate" then
    for _, r in ipairs(repeats_of[t.id] or {}) do
      if r.outcome ~= "passed" and r.outcome ~= "flaky" and r.outcome ~= "skipped" then list[#list + 1] = r end
    end
    return list
  end
  local attempts = t.attempts or {}
  for i = 1, #attempts - 1 do list[#list + 1] = attempts[i] end
  return list
end

local FAILURE_TYPE = { threshold = "threshold", pass_rate = "pass_rate" }

local function testcase(out, t, repeats_of)
  local head = "    <testcase " .. attrs({ "classname", classname(t.file), "name", t.full_name or t.name,
    "time", seconds(t.duration), "file", t.file, "line", t.line }) .. ">"
  out[#out + 1] = head
  if t.outcome == "skipped" then
    out[#out + 1] = "      <skipped " .. attrs({ "message", t.skip_reason or "skipped" }) .. "/>"
  elseif t.error then
    local kind = t.outcome == "infra" and ("infra." .. (t.error.kind or "error")) or "error"
    out[#out + 1] = ("      <error %s>%s</error>"):format(attrs({ "message", t.error.message, "type", kind }),
      esc(t.error.traceback and (t.error.message .. "\n" .. t.error.traceback) or t.error.message))
  end
  for _, f in ipairs(t.failures or {}) do
    out[#out + 1] = ("      <failure %s>%s</failure>"):format(
      attrs({ "message", f.message:match("^[^\n]*"), "type", t.outcome == "no_verdict" and "no_verdict"
        or FAILURE_TYPE[t.kind] or "assertion" }),
      esc(failure_text(f)))
  end
  local passed = t.outcome == "passed" or t.outcome == "flaky"
  for _, a in ipairs(earlier(t, repeats_of)) do rerun(out, passed and "flaky" or "rerun", a) end
  system_out(out, output_text(t), "      ")
  out[#out + 1] = "    </testcase>"
end

-- The document, written a test case at a time through `write`.
local function render(data, write)
  local byfile, order, repeats_of = {}, {}, {}
  for _, t in ipairs(data.tests) do
    if t.rate_of then
      repeats_of[t.rate_of] = repeats_of[t.rate_of] or {}
      table.insert(repeats_of[t.rate_of], t)
    else
      if not byfile[t.file] then byfile[t.file], order[#order + 1] = {}, t.file end
      table.insert(byfile[t.file], t)
    end
  end
  local listed = {}
  for _, path in ipairs(order) do table.move(byfile[path], 1, #byfile[path], #listed + 1, listed) end
  local files = {}
  for _, f in ipairs(data.files or {}) do files[f.path] = f end
  local total = counts(listed)
  local function put(out) write(table.concat(out, "\n") .. "\n") end
  put({ '<?xml version="1.0" encoding="UTF-8"?>',
    "<testsuites " .. attrs({ "name", "evalua", "tests", total.tests, "failures", total.failures,
      "errors", total.errors, "skipped", total.skipped, "time", seconds(data.duration),
      "timestamp", data.started_at }) .. ">" })
  for _, path in ipairs(order) do
    local tests = byfile[path]
    local c = counts(tests)
    local out = { "  <testsuite " .. attrs({ "name", path, "tests", c.tests, "failures", c.failures,
      "errors", c.errors, "skipped", c.skipped, "time", seconds(c.time), "timestamp", data.started_at,
      "file", path }) .. ">" }
    -- A report that is not the whole session says so where CI tools show properties:
    -- merged from incomplete shards, or cut short by Ctrl-C (the tests that did not
    -- run are <skipped>, which alone would read as green).
    if data.partial or data.interrupted then
      out[#out + 1] = "    <properties>"
      for _, p in ipairs(data.partial or {}) do
        out[#out + 1] = "      <property " .. attrs({ "name", "evalua.partial", "value", p }) .. "/>"
      end
      if data.interrupted then
        out[#out + 1] = "      <property " .. attrs({ "name", "evalua.interrupted", "value", "true" }) .. "/>"
      end
      out[#out + 1] = "    </properties>"
    end
    put(out)
    for _, t in ipairs(tests) do
      out = {}
      testcase(out, t, repeats_of)
      put(out)
    end
    out = {}
    system_out(out, output_text(files[path] or {}), "    ")
    out[#out + 1] = "  </testsuite>"
    put(out)
  end
  write("</testsuites>\n")
end

function junit.new(sink)
  return { name = "junit", finish = function(_, data) render(data, sink.write) end }
end

return junit
