-- Latency, tokens and cost: the mappers fill them from real-shaped documents, runner.stats
-- aggregates them (nearest-rank percentiles, totals; 0, 1 and 2 cases), the threshold
-- gates pass, fail, and fail when no case reports the figure, and report/costs words them.
local tap = require "tap"
local cjson = require "cjson"
local model = require "evalua.model"
local stats = require "evalua.runner.stats"
local threshold = require "evalua.runner.threshold"
local costs = require "evalua.report.costs"

local load = require "fixture"

-- Timestamps ---------------------------------------------------------------------------

tap.is(model.timestamp("1970-01-01T00:00:00Z"), 0, "timestamp: the epoch")
tap.is(model.timestamp("2026-03-15T10:30:00Z"), 1773570600, "timestamp: a date in 2026")
tap.is(model.timestamp("2026-03-15T11:30:00+01:00"), 1773570600, "timestamp: an offset is taken off")
tap.is(model.timestamp("2026-03-15 10:30:00.250"), 1773570600.25, "timestamp: a space, fractions, no offset = UTC")
tap.is(model.timestamp("2024-02-29T00:00:00Z") - model.timestamp("2024-02-28T00:00:00Z"), 86400, "leap day")
tap.ok(model.timestamp("15/03/2026") == nil and model.timestamp(cjson.null) == nil
  and model.timestamp("2026-03-15T10:30:00 CET") == nil, "timestamp: anything else is nil")
tap.is(model.elapsed_ms("2026-03-15T10:30:00.1Z", "2026-03-15T10:30:02.35Z"), 2250, "elapsed_ms, no float noise")
tap.is(model.elapsed_ms("2026-03-15T10:30:02Z", "2026-03-15T10:30:00Z"), nil, "an end before the start: nil")
tap.is(model.elapsed_ms("2026-03-15T10:30:02Z", nil), nil, "no end: nil")

-- Mappers ------------------------------------------------------------------------------

do -- Salesforce: performance first, else the latency expectation's score
  local run = model.from.agentforce(load("agentforce/quirks_results.json"))
  tap.is(run.cases[1].latency_ms, 2314, "Salesforce: output_latency_milliseconds is the case's latency")
  tap.is(run.cases[2].latency_ms, nil, "a case without one has none (never 0)")
  local enc = function(t) return (cjson.encode(t):gsub('"', "&quot;")) end
  local doc = { status = "SUCCESS", testCases = { { testNumber = 1,
    subjectResponse = enc { content = "hi", performance = { latencyMs = 812 } },
    testScorerResults = { { scorerName = "Latency", scorerResponse = enc {
      evaluationType = "evaluator.output_latency_milliseconds", score = 900 } } } } } }
  tap.is(model.from.agentforce(doc).cases[1].latency_ms, 812, "subjectResponse.performance wins over the metric")
end

do -- Future AGI: the API docs' example and the serializer's fields
  local detail = load("futureagi/docs_call_execution_detail.json")
  local c = model.from.futureagi({ status = "completed" }, { detail }).cases[1]
  tap.is(c.latency_ms, 1230, "Future AGI docs example: response_time 1.23 s -> 1230 ms")
  tap.is(c.cost, 0.067, "total_cost")
  tap.ok(c.input_tokens == nil and c.total_tokens == nil, "a voice call: no tokens (null)")
  local voice = { id = "c1", status = "completed", avg_agent_latency_ms = 850, response_time_ms = 900,
                  cost_cents = 12, total_tokens = cjson.null }
  local chat = { id = "c2", status = "completed", avg_latency_ms = 640, input_tokens = 250, output_tokens = 150,
                 total_tokens = 400, cost_cents = 3 }
  local run = model.from.futureagi({ status = "completed" }, { voice, chat })
  tap.ok(run.cases[1].latency_ms == 850 and run.cases[1].cost == 0.12, "voice: avg_agent_latency_ms, cost_cents / 100")
  tap.ok(run.cases[2].latency_ms == 640 and run.cases[2].input_tokens == 250 and run.cases[2].output_tokens == 150
    and run.cases[2].total_tokens == 400 and run.cases[2].cost == 0.03, "chat: avg_latency_ms and token counts")
  tap.is(model.mapper("futureagi").reports_cost, true, "Future AGI reports cost")
  tap.ok(not model.mapper("agentforce").reports_cost and not model.mapper("kapso").reports_cost
    and not model.mapper("glow").reports_cost, "the others do not")
end

do -- Kapso: the run's timestamps, once finished
  local doc = { id = "r1", started_at = "2026-03-15T10:30:00.000Z", ended_at = "2026-03-15T10:30:41.500Z",
                execution_completed = true, score = 9, test_case = { id = "tc" } }
  tap.is(model.from.kapso(doc).cases[1].latency_ms, 41500, "Kapso: ended_at - started_at")
  doc.ended_at, doc.execution_completed = cjson.null, false
  tap.is(model.from.kapso(doc).cases[1].latency_ms, nil, "an unfinished Kapso run has no latency")
end

do -- Glow: the replay's binding row to its last message
  local doc = { test = { test_id = "t" }, status_summary = { total = 2, completed = 1 },
    invocations = { { invocation_id = "i1", invocation_title = "A" }, { invocation_id = "i2", invocation_title = "B" } },
    runs = { { run_id = "r1", invocation_id = "i1", status = "completed" },
             { run_id = "r2", invocation_id = "i2", status = "in_progress" } },
    entries = {
      runs = { { run_id = "r1", created_at = "2026-03-15T10:00:00Z" }, { run_id = "r1", created_at = "2026-03-15T10:05:00Z" },
               { run_id = "r2", created_at = "2026-03-15T10:00:00Z" } },
      messages = { { run_id = "r1", message_created_at = "2026-03-15T10:05:00Z" },
                   { run_id = "r1", message_created_at = "2026-03-15T10:05:03.2Z" },
                   { run_id = "r1", message_created_at = "2026-03-15T10:00:09Z" },
                   { run_id = "r2", message_created_at = "2026-03-15T10:00:04Z" } } } }
  local run = model.from.glow(doc)
  tap.is(run.cases[1].latency_ms, 3200, "Glow: latest replay's start to its last message")
  tap.is(run.cases[2].latency_ms, nil, "a replay in progress has none")
  tap.is(model.from.glow({ runs = doc.runs }).cases[1].latency_ms, nil, "no entries: none")
end

-- Aggregates ---------------------------------------------------------------------------

tap.is(stats.percentile({}, 95), nil, "percentile of nothing: nil")
tap.ok(stats.percentile({ 7 }, 50) == 7 and stats.percentile({ 7 }, 95) == 7, "one value: it, at every rank")
tap.ok(stats.percentile({ 30, 10 }, 50) == 10 and stats.percentile({ 30, 10 }, 95) == 30,
  "two values: p50 the smaller, p95 the larger (nearest rank)")
local twenty = {}
for i = 20, 1, -1 do twenty[#twenty + 1] = i * 10 end
tap.ok(stats.percentile(twenty, 95) == 190 and stats.percentile(twenty, 50) == 100
  and stats.percentile(twenty, 100) == 200, "twenty values: p95 is the 19th, p50 the 10th, max the 20th")
tap.is(twenty[1], 200, "the list given is not reordered")

do
  local u = stats.usage({})
  tap.ok(u.cases == 0 and not stats.has_usage(u), "no case: no figure (not zeros)")
  u = stats.usage({ { latency_ms = 420, cost = 0.25, total_tokens = 12 } })
  tap.ok(u.latency.p50 == 420 and u.latency.p95 == 420 and u.latency.max == 420 and u.cost.total == 0.25
    and u.tokens.total == 12, "one case: its figures")
  u = stats.usage({ { latency_ms = 300, input_tokens = 3, output_tokens = 4, cost = 0.5 },
                    { latency_ms = 100, total_tokens = 10, cost = 0.25 }, { name = "no figures" } })
  tap.ok(u.latency.count == 2 and u.latency.p50 == 100 and u.latency.p95 == 300 and u.latency.max == 300,
    "two cases: p50, p95, max over the cases that report latency")
  tap.ok(u.tokens.total == 17 and u.tokens.input == 3 and u.tokens.output == 4, "tokens: input + output, else total")
  tap.ok(u.cost.total == 0.75 and u.cost.count == 2 and u.cost.currency == nil, "cost: summed; no currency named")
  tap.is(math.type(u.tokens.total), "integer", "token totals stay integers")
  u = stats.usage({ { cost = 1, cost_currency = "USD" }, { cost = 2, cost_currency = "EUR" } })
  tap.is(u.cost.currency, "mixed", "two currencies: mixed")
end

do
  local run = { provider = "futureagi", id = "e1", cases = {
    { latency_ms = 100, cost = 1, metrics = { { name = "polite", passed = true }, { name = "score", score = 3 } } },
    { latency_ms = 500, cost = 2, metrics = { { name = "polite", passed = false } } },
    { latency_ms = 900, metrics = { { name = "polite" } } } } }
  local by = stats.usage_by_metric(run)
  tap.is(#by, 1, "per metric: only metrics with a verdict")
  tap.ok(by[1].name == "polite" and by[1].usage.cases == 2 and by[1].usage.latency.max == 500
    and by[1].usage.cost.total == 3, "over the cases that have a verdict for it")
end

-- Threshold gates ----------------------------------------------------------------------

local function judge(spec, cases, outcome)
  local g = threshold.gates(spec)[1]
  local e = { gate = g, file = "f_test.lua", path = {}, name = threshold.title(g) }
  local data = { tests = { { kind = "test", file = "f_test.lua", path = {}, outcome = outcome or "passed",
                             runs = { { provider = "futureagi", id = "e1", cases = cases } } } } }
  return threshold.evaluate(e, data)
end

local fast = { { latency_ms = 800, cost = 1.5, total_tokens = 100 }, { latency_ms = 2900, cost = 2, total_tokens = 50 } }
local e = judge({ latency_p95 = "3s" }, fast)
tap.ok(e.outcome == "passed" and e.name == "threshold: latency p95 <= 3s", "latency_p95 '3s': passes at 2.9s")
e = judge({ latency_p95 = 2500 }, fast)
tap.is(e.outcome, "failed", "latency_p95 = 2500 (ms): fails at 2.9s")
tap.ok(e.failures[1].expected == "<= 2.5s" and e.failures[1].actual == "2.9s (2 cases)", "expected and actual")
tap.is(judge({ latency_p50 = "800ms" }, fast).outcome, "passed", "latency_p50: p50 of two is the smaller")
tap.is(judge({ latency_max = "2s" }, fast).outcome, "failed", "latency_max")
tap.is(judge({ cost_total = 3.5 }, fast).outcome, "passed", "cost_total: 3.5 spent of 3.5")
e = judge({ cost_total = 3 }, fast)
tap.ok(e.outcome == "failed" and e.actual == "3.5 (2 cases)", "cost_total: 3.5 over 3 fails")
tap.is(judge({ tokens_total = 149 }, fast).outcome, "failed", "tokens_total")
e = judge({ latency_p95 = "3s" }, { { name = "no timing" } })
tap.ok(e.outcome == "failed" and e.actual == "no case reports latency", "no case reports latency: fails, never green")
e = judge({ cost_total = 100 }, {})
tap.ok(e.outcome == "failed" and e.failures[1].message:find("no case reports cost", 1, true),
  "no case reports cost: fails")
tap.is(judge({ tokens_total = 10 }, {}).actual, "no case reports token usage", "no case reports token usage")
tap.is(judge({ latency_p95 = "3s" }, {}, "infra").outcome, "skipped", "a test that did not finish: skipped")
tap.is(judge({ cost_total = 10 }, { { cost = 1, cost_currency = "USD" }, { cost = 1, cost_currency = "EUR" } }).actual,
  "costs are in several currencies: not summed", "mixed currencies are not summed")
local bad_specs = { { latency_p95 = "fast" }, { latency_p95 = "3000" }, { latency_p95 = 0 / 0 }, { latency_p95 = true },
                    { cost_total = -1 }, { tokens_total = "10" } }
for _, bad in ipairs(bad_specs) do
  local ok, err = pcall(threshold.gates, bad)
  local key = next(bad)
  tap.ok(not ok and tostring(err):find("bad argument #1 to 'threshold'", 1, true)
    and tostring(err):find(key, 1, true), "threshold{" .. key .. " = " .. tostring(bad[key]) .. "}: bad argument")
end

-- Wording ------------------------------------------------------------------------------

tap.is(costs.line(stats.usage({})), nil, "no figure: no line")
tap.is(costs.line(stats.usage(fast)), "latency p50 800ms, p95 2.9s, max 2.9s (2 cases); tokens 150; cost 3.5 (2 cases)",
  "the line")
tap.is(costs.line(stats.usage({ { latency_ms = 41500 } })), "latency 41.5s", "one case: its latency")
local runs = { { provider = "futureagi", id = "e1", cases = fast }, { provider = "agentforce", id = "4KB", cases = {} } }
local rows = costs.rows(runs)
tap.ok(#rows == 2 and rows[1].label == "futureagi:e1" and rows[2].label == "all runs", "rows: runs with figures, total")
local function as_is(owner) return owner.runs end
tap.is(costs.tap({ runs = runs }, as_is), "# futureagi:e1 " .. costs.line(stats.usage(fast)) .. "\n", "TAP: a comment per run")
tap.is(costs.tap({ runs = json.encode(runs) }, function(o) return json.decode(o.runs) end),
  "# futureagi:e1 " .. costs.line(stats.usage(fast)) .. "\n", "TAP: the same from runs kept as text")
tap.is(costs.tap({ runs = '[{"provider":"x","id":"1","cases":[]}]' }, function() error("decoded") end), "",
  "runs kept as text without a figure are not decoded")
local props = costs.junit_properties({}, costs.owners_tally(as_is, { { { runs = runs } } }))
local byname = {}
for _, p in ipairs(props) do byname[p[1]] = p[2] end
tap.ok(byname["evalua.latency_p95_ms"] == 2900 and byname["evalua.cost_total"] == 3.5
  and byname["evalua.tokens_total"] == 150 and byname["evalua.cost_currency"] == nil, "JUnit properties")
tap.is(#costs.junit_properties({}, costs.owners_tally(as_is, { { { runs = { runs[2] } } } })), 0,
  "no figures: no properties")

tap.done()
