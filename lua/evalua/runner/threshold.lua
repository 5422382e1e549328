-- threshold{...}: suite-level gates over the runs of a file or describe block (minimum
-- pass rates, mean scores). Gates are judged from report data alone, so that a report
-- merged from shards is judged exactly like an unsharded run.
local errors = require "evalua.errors"
local record = require "evalua.runner.record"
local stats = require "evalua.runner.stats"

local threshold = {}

local function percent(r) return ("%.4g%%"):format(r * 100) end

-- Tests that passed (flaky ones too) and tests that passed or failed, among `tests`.
local function tests_passing(tests)
  local passed, judged = 0, 0
  for _, t in ipairs(tests) do
    local ok = t.outcome == "passed" or t.outcome == "flaky"
    if ok or t.outcome == "failed" then
      judged = judged + 1
      if ok then passed = passed + 1 end
    end
  end
  return passed, judged
end

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
      local passed, judged = tests_passing(tests)
      if judged == 0 then return nil end
      return passed / judged, ("%s (%d of %d tests)"):format(percent(passed / judged), passed, judged)
    end,
    missing = "no test passed or failed",
  },
}

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
  for _, name in ipairs(names) do
    for _, g in ipairs(threshold.forms(v[name], key .. "." .. name, check)) do
      g.metric = name
      list[#list + 1] = g
    end
  end
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
    if k ~= "pass_rate" and k ~= "metrics" and k ~= "scores" and k ~= "tests" then
      errors.argerror(1, "threshold", "unknown key " .. tostring(k) .. " (pass_rate, metrics, scores, tests)")
    end
  end
  local gates = {}
  local function add(kind, list)
    for _, g in ipairs(list) do
      g.gate = kind
      gates[#gates + 1] = g
    end
  end
  if spec.pass_rate ~= nil then add("pass_rate", threshold.forms(spec.pass_rate, "pass_rate", check_rate)) end
  add("metric", spec.metrics and check_map(spec.metrics, "metrics", check_rate) or {})
  add("score", spec.scores and check_map(spec.scores, "scores", check_number) or {})
  if spec.tests ~= nil then add("tests", threshold.forms(spec.tests, "tests", check_rate)) end
  if #gates == 0 then errors.argerror(1, "threshold", "no gate given (pass_rate, metrics, scores, tests)") end
  return gates
end

function threshold.title(gate)
  if gate.no_worse_than ~= nil then return "threshold: " .. threshold.relative_title(gate) end
  return "threshold: " .. kinds[gate.gate].title(gate)
end

local function within(path, scope)
  for i, name in ipairs(scope) do
    if path[i] ~= name then return false end
  end
  return true
end

-- The runs a gate entry covers that its file started in before_all (no test owns them).
local function file_runs(e, data)
  local runs = {}
  for _, f in ipairs(data.files or {}) do
    if f.path == e.file then
      for _, r in ipairs(record.runs(f)) do
        if within(r.scope or {}, e.path or {}) then runs[#runs + 1] = r end
      end
    end
  end
  return runs
end

-- The tests and runs a gate entry covers in session `data`.
local function scope(e, data)
  local tests, runs = {}, {}
  for _, t in ipairs(data.tests or {}) do
    if t.kind == "test" and t.file == e.file and within(t.path or {}, e.path or {}) then
      tests[#tests + 1] = t
      for _, r in ipairs(record.runs(t)) do runs[#runs + 1] = r end
    end
  end
  for _, r in ipairs(file_runs(e, data)) do runs[#runs + 1] = r end
  return tests, runs
end

-- Judge gate entry `e` against session data: sets outcome, actual and a failure.
function threshold.evaluate(e, data)
  local kind = kinds[e.gate.gate]
  local tests, runs = scope(e, data)
  e.failures, e.skip_reason, e.actual = {}, nil, nil
  if e.gate.no_worse_than ~= nil then threshold.record_baseline(e, data) end
  if #tests < (e.scope_total or 0) then
    e.outcome = "skipped"
    e.skip_reason = ("only %d of the %d tests it covers are in this report; judged when shard reports are merged")
      :format(#tests, e.scope_total)
    return e
  end
  local value, shown = kind.measure(e.gate, runs, tests)
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
  if e.gate.no_worse_than ~= nil then return threshold.judge_relative(e, value, shown, runs, tests) end
  e.actual = shown or kind.missing
  e.outcome = value ~= nil and value >= e.gate.min and "passed" or "failed"
  if e.outcome == "failed" then
    e.failures[1] = {
      message = ("%s not met: %s"):format(e.name, e.actual),
      expected = ">= " .. (e.gate.gate == "score" and ("%.4g"):format(e.gate.min) or percent(e.gate.min)),
      actual = e.actual, file = e.file, line = e.line,
    }
  end
  return e
end

---------------------------------------------------------------------------
-- Gates relative to a baseline (`evalua test --baseline FILE`):
-- `metrics = { name = { no_worse_than = "2%" } }` passes when the value is at least the
-- baseline's minus the tolerance (percentage points for rates, an absolute difference
-- for scores), over the same tests that ran now. What the gate measures in the baseline
-- is recorded per test on the entry when it is first judged, so that a merge of shard
-- reports judges it the same without the baseline file.

local EPS = 1e-9

-- The baseline each session judges against (runner.baseline.attach): {file, data, missing}.
local attached = setmetatable({}, { __mode = "k" })

--- threshold.use_baseline(data, b): judge the relative gates of session `data` against
-- `b` = {file = name, data = its report (nil: none given), missing = "fail"|"skip"}.
function threshold.use_baseline(data, b)
  attached[data] = b
end

-- What each kind of gate is called in a relative gate's title and message, and its
-- `part`: the two numbers its value is made of over some runs and tests (passed and
-- counted for rates, sum and count for a mean score), which add up over tests.
local function sum_of(list)
  local total = 0
  for _, v in ipairs(list) do total = total + v end
  return total, #list
end

local RELATIVE = {
  pass_rate = { subject = function() return "pass rate" end, short = function() return "pass rate" end, rate = true,
                part = function(_, runs) return select(2, stats.pass_rate(runs)) end },
  metric = { subject = function(g) return g.metric .. " pass rate" end, short = function(g) return g.metric end,
             rate = true, part = function(g, runs) return select(2, stats.pass_rate(runs, g.metric)) end },
  score = { subject = function(g) return ("mean %s score"):format(g.metric) end,
            short = function(g) return ("mean %s score"):format(g.metric) end,
            part = function(g, runs) return sum_of(stats.scores(runs, g.metric)) end },
  tests = { subject = function() return "tests passing" end, short = function() return "tests passing" end,
            rate = true, part = function(_, _, tests) return tests_passing(tests) end },
}

-- A tolerance: for rates 0.02 or "2%" (percentage points, 0 to 100%); for scores a number >= 0.
local function check_tolerance(v, key, rate)
  local n = type(v) == "number" and v or nil
  if rate and type(v) == "string" and v:match("%%$") then
    n = tonumber(v:sub(1, -2))
    n = n and n / 100
  end
  if not n or n < 0 or (rate and n > 1) then
    errors.argerror(1, "threshold", ("%s.no_worse_than must be %s, got %s"):format(key,
      rate and "a number from 0 to 1 or a percentage (\"2%\")" or "a number >= 0 (a score difference)",
      type(v) == "string" and ("'" .. v .. "'") or tostring(v)))
  end
  return n
end

--- The gates one value of a threshold{} key declares: a number is a minimum (as is
-- `{at_least = N}`); `{no_worse_than = T}` is relative to the baseline; both may be given.
function threshold.forms(v, key, check)
  if type(v) ~= "table" then return { { min = check(v, key) } } end
  for k in pairs(v) do
    if k ~= "at_least" and k ~= "no_worse_than" then
      errors.argerror(1, "threshold", ("unknown key %s in %s (at_least, no_worse_than)"):format(tostring(k), key))
    end
  end
  local list = {}
  if v.at_least ~= nil then list[#list + 1] = { min = check(v.at_least, key .. ".at_least") } end
  if v.no_worse_than ~= nil then
    list[#list + 1] = { no_worse_than = check_tolerance(v.no_worse_than, key, check == check_rate) }
  end
  if #list == 0 then errors.argerror(1, "threshold", key .. " must give at_least or no_worse_than") end
  return list
end

local function shown_value(gate, v)
  if RELATIVE[gate.gate].rate then return percent(v) end
  return ("%.4g"):format(v)
end

-- "−5%", "+0.3": a change, with a true minus sign.
local function signed(gate, d)
  if math.abs(d) < EPS then d = 0 end
  return (d < 0 and "−" or "+") .. shown_value(gate, math.abs(d))
end

function threshold.relative_title(g)
  return ("%s >= baseline − %s"):format(RELATIVE[g.gate].subject(g), shown_value(g, g.no_worse_than))
end

-- Record on the entry what the gate measures in the baseline attached to `data` (by
-- `evalua test --baseline`), per test (by full name) and for the file's own runs, so
-- that it is compared over the tests that ran now, in this session or in a merge of its
-- shards: {file, policy, by_test = {[full name] = {a, b}}, own_runs = {a, b}, total}, or
-- {file, policy, missing = why}. Without an attached baseline (a merge), what was
-- recorded stays.
function threshold.record_baseline(e, data)
  local b = attached[data]
  local rec = { file = b and b.file, policy = b and b.missing }
  if not (b and b.data) then
    if not b and e.baseline then return end -- recorded by the run a merge reads
    rec.missing = "no baseline given (evalua test --baseline FILE; --baseline-missing=skip to save a first one)"
    e.baseline = rec
    return
  end
  local rel = RELATIVE[e.gate.gate]
  local tests = scope(e, b.data)
  rec.by_test, rec.total = {}, #tests
  for _, t in ipairs(tests) do
    local x, y = rel.part(e.gate, record.runs(t), { t })
    local have = rec.by_test[t.full_name or t.name] or { 0, 0 }
    rec.by_test[t.full_name or t.name] = { have[1] + x, have[2] + y }
  end
  local fruns = file_runs(e, b.data)
  if #fruns > 0 then rec.own_runs = { rel.part(e.gate, fruns, {}) } end
  if #tests == 0 and not rec.own_runs then
    local where = e.file .. (#(e.path or {}) > 0 and (" > " .. table.concat(e.path, " > ")) or "")
    rec.missing = ("no baseline for %s: %s has no tests of %s"):format(rel.short(e.gate), b.file, where)
  end
  e.baseline = rec
end

-- The baseline's value over the tests that ran now: value, its text, the cases it counts
-- that now give none (lost: for a rate they count as failing), the tests it covers, the
-- cases it counts; or nil.
local function baseline_now(e, tests)
  local rec, rel = e.baseline, RELATIVE[e.gate.gate]
  local a, b, lost, matched = 0, 0, 0, 0
  if rec.own_runs then a, b = rec.own_runs[1], rec.own_runs[2] end
  for _, t in ipairs(tests) do
    local p = (rec.by_test or {})[t.full_name or t.name]
    if p then
      matched = matched + 1
      a, b = a + p[1], b + p[2]
      lost = lost + math.max(0, p[2] - select(2, rel.part(e.gate, record.runs(t), { t })))
    end
  end
  if b == 0 then return nil end
  local shown = rel.rate and ("%s (%d of %d)"):format(percent(a / b), a, b) or ("%.4g (mean of %d)"):format(a / b, b)
  return a / b, shown, lost, matched, b
end

-- Judge a relative gate: the value now (nil: no data) against the recorded baseline.
function threshold.judge_relative(e, value, shown, runs, tests)
  local g, rec, kind, rel = e.gate, e.baseline, kinds[e.gate.gate], RELATIVE[e.gate.gate]
  local short = rel.short(g)
  local base, base_shown, lost, matched, counted
  if not rec.missing then
    base, base_shown, lost, matched, counted = baseline_now(e, tests)
    if not base then
      rec = { file = rec.file, policy = rec.policy, missing = ("no baseline for %s: in %s, %s (among the tests "
        .. "run now)"):format(short, rec.file, kind.missing) }
    end
  end
  if rec.missing and rec.policy == "skip" then
    e.outcome, e.skip_reason = "skipped", rec.missing .. " (--baseline-missing=skip)"
    return e
  end
  local message, expected
  local over = matched and matched < rec.total and (" over the %d of its %d tests run now"):format(matched, rec.total)
    or ""
  if rec.missing then
    e.actual, message, expected = shown or kind.missing, rec.missing, "a baseline value"
  elseif value == nil then
    e.actual = kind.missing
    message = ("%s: %s (was %s in %s%s)"):format(short, kind.missing, shown_value(g, base), rec.file, over)
  else
    local fail, why = false, ""
    if lost > 0 and rel.rate then
      local x, y = rel.part(g, runs, tests)
      value = x / (y + lost)
      why = ("; %d fewer case%s with a verdict, counted as failing"):format(lost, lost == 1 and "" or "s")
      shown = ("%s (%d of %d, %d of them without a verdict now)"):format(percent(value), x, y + lost, lost)
    elseif lost > 0 then
      fail, why = true, ("; %d of the %d cases scored then have no score now"):format(lost, counted)
      shown = shown .. why
    end
    e.actual = ("%s; was %s in %s%s"):format(shown, base_shown, rec.file, over)
    if not fail and value >= base - g.no_worse_than - EPS then
      e.outcome = "passed"
      return e
    end
    message = ("%s %s (was %s in %s%s, %s%s)"):format(short, shown_value(g, value), shown_value(g, base),
      rec.file, over, signed(g, value - base), why)
  end
  local limit = base and base - g.no_worse_than
  if limit and rel.rate then limit = math.max(0, limit) end
  expected = expected or (">= %s (%s in %s − %s)"):format(shown_value(g, limit), shown_value(g, base), rec.file,
    shown_value(g, g.no_worse_than))
  e.outcome = "failed"
  e.failures[1] = { message = ("%s not met: %s"):format(e.name, message), expected = expected, actual = e.actual,
                    file = e.file, line = e.line }
  return e
end

return threshold
