-- JUnit XML as Jenkins, GitLab and GitHub read it: testsuites > testsuite (one per
-- file) > testcase with failure / error / skipped; infra errors are <error type="infra.KIND">
-- so they stay apart from bugs in tests. Per-case metrics go to <system-out>.
local markup = require "evalua.report.markup"
local stats = require "evalua.runner.stats"

local esc = markup.escape

local junit = {}

local function attrs(list)
  local out = {}
  for i = 1, #list, 2 do
    if list[i + 1] ~= nil then out[#out + 1] = ('%s="%s"'):format(list[i], esc(list[i + 1])) end
  end
  return table.concat(out, " ")
end

local function seconds(t) return ("%.3f"):format(t or 0) end

local function counts(tests)
  local c = { tests = #tests, failures = 0, errors = 0, skipped = 0, time = 0 }
  for _, t in ipairs(tests) do
    if t.outcome == "failed" then c.failures = c.failures + 1
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

local function system_out(out, text, indent)
  if text and text ~= "" then out[#out + 1] = indent .. "<system-out>" .. esc(text) .. "</system-out>" end
end

local function classname(path)
  return (path:gsub("%.lua$", ""):gsub("^%./", ""):gsub("[/\\]", "."))
end

local function testcase(out, t)
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
      attrs({ "message", f.message:match("^[^\n]*"), "type", t.kind == "threshold" and "threshold" or "assertion" }),
      esc(failure_text(f)))
  end
  local text = {}
  if t.output then text[#text + 1] = t.output end
  if t.runs and #t.runs > 0 then text[#text + 1] = junit.metrics_text(t.runs) end
  system_out(out, table.concat(text, "\n"), "      ")
  out[#out + 1] = "    </testcase>"
end

local function render(data)
  local byfile, order = {}, {}
  for _, t in ipairs(data.tests) do
    if not byfile[t.file] then byfile[t.file], order[#order + 1] = {}, t.file end
    table.insert(byfile[t.file], t)
  end
  local files = {}
  for _, f in ipairs(data.files or {}) do files[f.path] = f end
  local total = counts(data.tests)
  local out = { '<?xml version="1.0" encoding="UTF-8"?>',
    "<testsuites " .. attrs({ "name", "evalua", "tests", total.tests, "failures", total.failures,
      "errors", total.errors, "skipped", total.skipped, "time", seconds(data.duration),
      "timestamp", data.started_at }) .. ">" }
  for _, path in ipairs(order) do
    local tests = byfile[path]
    local c = counts(tests)
    out[#out + 1] = "  <testsuite " .. attrs({ "name", path, "tests", c.tests, "failures", c.failures,
      "errors", c.errors, "skipped", c.skipped, "time", seconds(c.time), "timestamp", data.started_at,
      "file", path }) .. ">"
    if data.partial then
      out[#out + 1] = "    <properties>"
      for _, p in ipairs(data.partial) do
        out[#out + 1] = "      <property " .. attrs({ "name", "evalua.partial", "value", p }) .. "/>"
      end
      out[#out + 1] = "    </properties>"
    end
    for _, t in ipairs(tests) do testcase(out, t) end
    local f = files[path] or {}
    local text = {}
    if f.output then text[#text + 1] = f.output end
    if f.runs and #f.runs > 0 then text[#text + 1] = junit.metrics_text(f.runs) end
    system_out(out, table.concat(text, "\n"), "    ")
    out[#out + 1] = "  </testsuite>"
  end
  out[#out + 1] = "</testsuites>"
  return table.concat(out, "\n") .. "\n"
end

function junit.new(sink)
  return { name = "junit", finish = function(_, data) sink.write(render(data)) end }
end

return junit
