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

-- Latency, tokens and cost ---------------------------------------------------------

-- The p-th percentile (0 < p <= 100) of a list of numbers by the nearest-rank method: the
-- value at rank ceil(p/100 * n) of the sorted list, always one of the values (p50 of two
-- values is the smaller, p95 the larger); nil for an empty list.
function stats.percentile(list, p)
  if #list == 0 then return nil end
  local sorted = table.move(list, 1, #list, 1, {})
  table.sort(sorted)
  return sorted[math.max(1, math.ceil(p / 100 * #sorted - 1e-9))]
end

-- Milliseconds as people read them: 812ms, 2.31s (threshold titles, reports).
function stats.ms(v)
  if v < 1000 then return ("%.4gms"):format(v) end
  return ("%.4gs"):format(v / 1000)
end

-- Latency, tokens and cost, added up a list of cases at a time (reports may add one
-- test's cases, then drop them): add(cases) as often as needed, then result() gives
-- {cases = n, latency = {count, p50, p95, max, mean} (ms), tokens = {count, input,
-- output, total}, cost = {count, total, currency}}, a part nil when no case reports it.
-- A case's total tokens are `total_tokens`, else input + output. Currency: the one the
-- cases name, "mixed" when they differ. Only the latencies are kept (for percentiles).
function stats.usage_tally()
  local n, lat, currency = 0, {}, nil
  local tok, inp, outp, cost = { n = 0, sum = 0 }, { n = 0, sum = 0 }, { n = 0, sum = 0 }, { n = 0, sum = 0 }
  local function count(acc, v)
    if v then acc.n, acc.sum = acc.n + 1, acc.sum + v end
  end
  local tally = {}
  function tally.add(cases)
    for _, c in ipairs(cases) do
      n = n + 1
      lat[#lat + 1] = number(c.latency_ms)
      local i, o = number(c.input_tokens), number(c.output_tokens)
      count(inp, i)
      count(outp, o)
      count(tok, number(c.total_tokens) or (i or o) and (i or 0) + (o or 0) or nil)
      local v = number(c.cost)
      count(cost, v)
      local cur = v and type(c.cost_currency) == "string" and c.cost_currency or nil
      if cur and currency and cur ~= currency then currency = "mixed" else currency = currency or cur end
    end
    return tally
  end
  function tally.result()
    local u = { cases = n }
    if #lat > 0 then
      u.latency = { count = #lat, p50 = stats.percentile(lat, 50), p95 = stats.percentile(lat, 95),
                    max = stats.percentile(lat, 100), mean = stats.mean(lat) }
    end
    if tok.n > 0 then
      u.tokens = { count = tok.n, total = tok.sum, input = inp.n > 0 and inp.sum or nil,
                   output = outp.n > 0 and outp.sum or nil }
    end
    if cost.n > 0 then u.cost = { count = cost.n, total = cost.sum, currency = currency } end
    return u
  end
  return tally
end

-- The usage summary of a list of cases.
function stats.usage(cases)
  return stats.usage_tally().add(cases).result()
end

-- Whether a usage summary holds any figure.
function stats.has_usage(u)
  return (u.latency or u.tokens or u.cost) ~= nil
end

-- Usage per metric, added up a run or array of runs at a time: add(x), then result()
-- gives [{name, usage}] sorted by name, each over the cases that have a verdict for it.
function stats.usage_by_metric_tally()
  local byname = {}
  local tally = {}
  function tally.add(x)
    for _, case in ipairs(stats.cases(x)) do
      local seen = {}
      for _, m in ipairs(stats.metrics(case)) do
        local name = tostring(m.name)
        if flag(m.passed) ~= nil and not seen[name] then
          seen[name] = true
          byname[name] = byname[name] or stats.usage_tally()
          byname[name].add({ case })
        end
      end
    end
    return tally
  end
  function tally.result()
    local out = {}
    for name, t in pairs(byname) do out[#out + 1] = { name = name, usage = t.result() } end
    table.sort(out, function(a, b) return a.name < b.name end)
    return out
  end
  return tally
end

function stats.usage_by_metric(x)
  return stats.usage_by_metric_tally().add(x).result()
end

-- Each run's own `usage` (and `usage_by_metric`), where some case reports a figure: what
-- the JSON report keeps per run. In place.
function stats.annotate_usage(runs)
  for _, run in ipairs(runs) do
    local u = stats.usage(run.cases or {})
    run.usage, run.usage_by_metric = nil, nil
    if stats.has_usage(u) then
      run.usage = u
      local by = {}
      for _, m in ipairs(stats.usage_by_metric(run)) do
        if stats.has_usage(m.usage) then by[m.name] = m.usage end
      end
      if next(by) then run.usage_by_metric = by end
    end
  end
  return runs
end

return stats
