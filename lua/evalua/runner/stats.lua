-- Pass rates and scores over the result model (run > cases > metrics). Works on live
-- model objects and on their plain copies read back from a JSON report alike, so the
-- matchers, thresholds and reporters all count the same way.
local null = require("cjson").null

local stats = {}

-- true/false, or nil for anything else (a JSON null, a missing value).
local function flag(v)
  if v == true or v == false then return v end
  return nil
end
stats.flag = flag

local function number(v)
  return type(v) == "number" and v == v and v or nil
end
stats.number = number

-- A case's metrics as an array, whether the model keeps an array or a name-keyed map.
function stats.metrics(case)
  local m = type(case) == "table" and case.metrics
  if type(m) ~= "table" then return {} end
  if #m > 0 or next(m) == nil then return m end
  local list = {}
  for name, metric in pairs(m) do
    if type(metric) == "table" then
      list[#list + 1] = metric.name and metric or setmetatable({ name = name }, { __index = metric })
    end
  end
  table.sort(list, function(a, b) return tostring(a.name) < tostring(b.name) end)
  return list
end

function stats.metric(case, name)
  for _, m in ipairs(stats.metrics(case)) do
    if m.name == name then return m end
  end
  return nil
end

-- A value that says something: not nil, false or JSON null.
function stats.present(v)
  return v ~= nil and v ~= false and v ~= null
end

-- Same rule as the model's Case:passed(): false when the case errored or failed or a
-- metric failed; true when some metric passed and none failed; nil without a verdict.
function stats.case_verdict(case)
  if case.status == "error" or case.status == "failed" or stats.present(case.error) then return false end
  local verdict
  for _, m in ipairs(stats.metrics(case)) do
    local v = flag(m.passed)
    if v == false then return false end
    verdict = verdict or v
  end
  return verdict
end

-- A run, or an array of runs, as an array of runs.
function stats.runs(x)
  if type(x) ~= "table" then return {} end
  if x.cases then return { x } end
  return x
end

-- Every case of the given run(s), in order.
function stats.cases(x)
  local list = {}
  for _, run in ipairs(stats.runs(x)) do
    for _, case in ipairs(run.cases or {}) do list[#list + 1] = case end
  end
  return list
end

-- Pass rate over the run(s): of the metric `name` when given, else of cases passing
-- every metric; what has no verdict does not count. Returns rate (nil when
-- nothing counted), passed, counted.
function stats.pass_rate(x, name)
  local passed, total = 0, 0
  for _, case in ipairs(stats.cases(x)) do
    local verdict
    if name then
      verdict = flag((stats.metric(case, name) or {}).passed)
    else
      verdict = stats.case_verdict(case)
    end
    if verdict ~= nil then
      total = total + 1
      if verdict then passed = passed + 1 end
    end
  end
  return total > 0 and passed / total or nil, passed, total
end

-- The numeric scores of metric `name` over the run(s).
function stats.scores(x, name)
  local list = {}
  for _, case in ipairs(stats.cases(x)) do
    local score = number((stats.metric(case, name) or {}).score)
    if score then list[#list + 1] = score end
  end
  return list
end

function stats.mean(list)
  if #list == 0 then return nil end
  local sum = 0
  for _, v in ipairs(list) do sum = sum + v end
  return sum / #list
end

-- Per-metric summary built up one run or array of runs at a time (reports add one
-- test's runs, then drop them): add(x) as often as needed, then result() gives what
-- by_metric gives.
function stats.metric_tally()
  local order, byname = {}, {}
  local tally = {}
  function tally.add(x)
    for _, case in ipairs(stats.cases(x)) do
      for _, m in ipairs(stats.metrics(case)) do
        local name = tostring(m.name)
        local s = byname[name]
        if not s then
          s = { name = name, passed = 0, failed = 0, counted = 0, scores = {} }
          byname[name], order[#order + 1] = s, s
        end
        local verdict = flag(m.passed)
        if verdict ~= nil then
          s.counted = s.counted + 1
          if verdict then s.passed = s.passed + 1 else s.failed = s.failed + 1 end
        end
        s.scores[#s.scores + 1] = number(m.score)
      end
    end
  end
  function tally.result()
    table.sort(order, function(a, b) return a.name < b.name end)
    for _, s in ipairs(order) do
      s.rate = s.counted > 0 and s.passed / s.counted or nil
      s.mean = stats.mean(s.scores)
    end
    return order
  end
  return tally
end

-- Per-metric summary over the run(s), sorted by name:
-- {name, passed, failed, counted, rate, scores, mean}.
function stats.by_metric(x)
  local tally = stats.metric_tally()
  tally.add(x)
  return tally.result()
end

return stats
