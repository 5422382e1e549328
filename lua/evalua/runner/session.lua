-- The session as plain data: what every reporter reads, what the JSON report holds and
-- what `evalua report merge` combines (a finished test keeps its runs as compact text:
-- runner.record). Outcome counts and the exit code derive from it.
local errors = require "evalua.errors"
local json = require "evalua.json"
local record = require "evalua.runner.record"
local repeats = require "evalua.runner.repeats"
local threshold = require "evalua.runner.threshold"

local session = {}

session.FORMAT = "evalua-session/1"
-- flaky: failed, then passed on a retry; no_verdict: a resumed run whose cases have no
-- pass/fail verdict (never a pass).
session.OUTCOMES = { "passed", "flaky", "failed", "no_verdict", "error", "infra", "skipped" }

-- A JSON-safe copy: no functions, raw service documents, JSON nulls, cycles or empty
-- tables; NaN and infinities as text.
local function plain(v, seen)
  local t = type(v)
  if t == "string" or t == "boolean" then return v end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
    return v
  end
  if t ~= "table" or seen[v] then return nil end
  seen[v] = true
  local out, empty = {}, true
  for k, x in pairs(v) do
    if k ~= "raw" and (type(k) == "string" or math.type(k) == "integer") then
      local c = plain(x, seen)
      if c ~= nil then out[k], empty = c, false end
    end
  end
  seen[v] = nil
  if empty then return nil end
  return out
end

function session.plain(v)
  return plain(v, {})
end

-- Read a JSON report back; errors name the file.
--- session.read(path) -> the text of the report file at path, or nil and io.open's message.
function session.read(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

function session.decode(text, name)
  local ok, data = pcall(json.decode, text)
  if not ok then error(("%s: not a JSON report: %s"):format(name, tostring(data)), 0) end
  if type(data) ~= "table" or data.format ~= session.FORMAT then
    error(("%s: not an evalua session report (format %s expected)"):format(name, session.FORMAT), 0)
  end
  return record.normalize(data)
end

-- Order of entries: by file, then declaration (`seq`), as in an unsharded run.
function session.sort(tests)
  table.sort(tests, function(a, b)
    if a.file_index ~= b.file_index then return (a.file_index or 0) < (b.file_index or 0) end
    if a.seq ~= b.seq then return (a.seq or 0) < (b.seq or 0) end
    return a.id < b.id
  end)
end


-- Whether an entry ended on a configuration or usage error (a missing variable, ...).
local function usage_error(e)
  return e.outcome == "error" and type(e.error) == "table" and errors.usage_kinds[e.error.kind] == true
end

-- The exit code for a summary: 2 any configuration error (among `tests`, when given),
-- 3 any error, 4 any infra, 1 any failure or run without a verdict (unless
-- `policy.accept_no_verdict`) or flaky test (with `policy.fail_on_flaky`) or a budget
-- that stopped the suite (`policy.budget`), else 0.
function session.exit_code(summary, tests, policy)
  policy = policy or {}
  for _, e in ipairs(tests or {}) do
    if usage_error(e) then return 2 end
  end
  if summary.error > 0 then return 3 end
  if summary.infra > 0 then return 4 end
  if summary.failed > 0 then return 1 end
  if (summary.no_verdict or 0) > 0 and not policy.accept_no_verdict then return 1 end
  if (summary.flaky or 0) > 0 and policy.fail_on_flaky then return 1 end
  -- A suite the budget stopped (--max-runs) did not pass, whatever ran.
  if policy.budget then return 1 end
  return 0
end

-- Count outcomes into data.summary and set data.exit_code. The repeats of a test with a
-- pass rate are counted apart (`repeats`): the pass-rate entry holds their verdict.
function session.summarize(data)
  local s = { total = 0, thresholds = 0, repeats = 0 }
  for _, o in ipairs(session.OUTCOMES) do s[o] = 0 end
  for _, t in ipairs(data.tests) do
    if t.rate_of then
      s.repeats = s.repeats + 1
    else
      s.total = s.total + 1
      s[t.outcome] = (s[t.outcome] or 0) + 1
      if t.kind == "threshold" then s.thresholds = s.thresholds + 1 end
    end
  end
  s.tests = s.total - s.thresholds
  data.summary = s
  data.exit_code = data.usage_error and 2 or session.exit_code(s, data.tests, data)
  return data
end

-- One report from several shard reports: entries deduplicated by id and put back in
-- unsharded order, file runs combined, thresholds judged again over everything.
function session.merge(reports)
  local out = { format = session.FORMAT, files = json.array(), tests = json.array(), merged = #reports, duration = 0 }
  local files, seen = {}, {}
  for _, r in ipairs(reports) do
    out.evalua = out.evalua or r.evalua
    if not out.started_at or (r.started_at and r.started_at < out.started_at) then out.started_at = r.started_at end
    out.duration = math.max(out.duration, r.duration or 0)
    out.interrupted = out.interrupted or r.interrupted
    out.budget = out.budget or r.budget
    out.plan = out.plan or r.plan
    out.fail_on_flaky = out.fail_on_flaky or r.fail_on_flaky
    out.accept_no_verdict = (out.accept_no_verdict ~= false and r.accept_no_verdict) or false
    for _, p in ipairs(r.partial or {}) do
      out.partial = out.partial or json.array()
      out.partial[#out.partial + 1] = p
    end
    for _, f in ipairs(r.files or {}) do
      local mine = files[f.path]
      if not mine then
        mine = { path = f.path, index = f.index, runs = json.array(), output = f.output, error = f.error }
        files[f.path] = mine
        out.files[#out.files + 1] = mine
      end
      for _, run in ipairs(f.runs or {}) do mine.runs[#mine.runs + 1] = run end
    end
    for _, t in ipairs(r.tests or {}) do
      if not seen[t.id] then
        seen[t.id] = true
        out.tests[#out.tests + 1] = t
      end
    end
  end
  table.sort(out.files, function(a, b) return (a.index or 0) < (b.index or 0) end)
  session.sort(out.tests)
  for _, t in ipairs(out.tests) do
    if t.kind == "threshold" then threshold.evaluate(t, out) end
    if t.kind == "pass_rate" then repeats.evaluate(t, out) end
  end
  return session.summarize(out)
end

return session
