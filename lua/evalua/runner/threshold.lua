-- threshold{...}: suite-level gates over the runs of a file or describe block (minimum
-- pass rates, mean scores). Gates are judged from report data alone, so that a report
-- merged from shards is judged exactly like an unsharded run.
local errors = require "evalua.errors"
local record = require "evalua.runner.record"
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
    if k ~= "pass_rate" and k ~= "metrics" and k ~= "scores" and k ~= "tests" then
      errors.argerror(1, "threshold", "unknown key " .. tostring(k) .. " (pass_rate, metrics, scores, tests)")
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
  if #gates == 0 then errors.argerror(1, "threshold", "no gate given (pass_rate, metrics, scores, tests)") end
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
      for _, r in ipairs(record.runs(t)) do runs[#runs + 1] = r end
    end
  end
  for _, f in ipairs(data.files or {}) do
    if f.path == e.file then
      for _, r in ipairs(record.runs(f)) do
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

return threshold
