-- The result model: every fixture maps onto Run/Case/Metric with nothing dropped.
-- Pure Lua: LUA_PATH='tests/lua/?.lua;lua/?.lua;lua/?/init.lua;;' lua5.4 tests/lua/model_test.lua
local tap = require "tap"
local cjson = require "cjson"
local model = require "evalua.model"

local load = require "fixture"

local function values(list, field)
  local out = {}
  for i, v in ipairs(list) do out[i] = v[field] end
  return out
end

-- Salesforce: every results document, every expectation accounted for ---------------

local af_results = {
  "agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ_results__1.json",
  "agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ_results__2.json",
  "agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ_results__3.json",
  "agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ_results__4.json",
  "agentforce/plugin-agent_einstein_ai-evaluations_runs_4KBSM000000003F4AQ_results__5.json",
  "agentforce/plugin-agent_einstein_ai-evaluations_runs_4KBSM000000003F4AQ_results__6.json",
  "agentforce/einstein_ai-testing_runs_3A2SM000000003F4AQ_results__1.json",
  "agentforce/agentTesterNGT_entity_encoded_results.json",
  "agentforce/seed_v63_results.json",
  "agentforce/quirks_results.json",
}

for _, path in ipairs(af_results) do
  local doc = load(path)
  local run = model.from.agentforce(doc, { id = "4KB" })
  local expected_metrics, got_metrics, names_match = 0, 0, true
  for i, tc in ipairs(doc.testCases) do
    local results = tc.testResults ~= cjson.null and tc.testResults or tc.testScorerResults
    expected_metrics = expected_metrics + #results
    local case = run.cases[i]
    got_metrics = got_metrics + (case and #case.metrics or 0)
    for j, r in ipairs(results) do
      local m = case and case.metrics[j]
      if not m or m.name ~= (r.name or r.scorerName) or m.raw ~= r then names_match = false end
    end
  end
  local short = path:match("[^/]+$")
  tap.is(#run.cases, #doc.testCases, short .. ": one case per test case")
  tap.is(got_metrics, expected_metrics, short .. ": one metric per expectation")
  tap.ok(names_match, short .. ": metrics keep names, order and raw documents")
  tap.ok(run.raw == doc and run.provider == "agentforce" and run.id == "4KB",
    short .. ": run keeps provider, id and raw")
end

do
  local run = model.from.agentforce(load(af_results[4]))
  tap.is(run.status, "completed", "results 4: COMPLETED -> completed")
  tap.is(run.raw_status, "COMPLETED", "results 4: raw status kept")
  tap.is(run.subject, "Guest_Experience_Agent", "results 4: subject name")
  tap.is(run.started_at, "2025-01-07T12:00:00Z", "results 4: start time")
  local c1 = run.cases[1]
  tap.is(c1.name, "1", "case named by its test number")
  tap.like(c1.inputs.utterance, "^I'd like a 1 hour massage", "utterance")
  tap.is_deeply(c1.outputs.actions, { "Get_Experience_Details", "Generate_Personalized_Schedule",
    "Get_Customer_Details", "Create_Experience_Session_Booking" }, "actions list")
  tap.is(c1.outputs.topic, "Mathematics", "topic")
  tap.is(c1.outputs.response, "Success", "agent outcome as response")
  tap.is(#c1.outputs.transcript, 2, "single-turn transcript: utterance and outcome")
  local m = c1:metric("bot_response_rating")
  tap.ok(m.passed == true and m.score == 0.9 and m.label == "Precision", "result PASS + score")
  tap.like(m.expected, "Swedish", "expected value")
  tap.is(m.reason, "Measures the precision of the result.", "explainability as reason")
  tap.is(c1:metric("nope"), nil, "case:metric of an unknown name is nil")
  local failed = run:failed_cases()
  tap.is_deeply(values(failed, "name"), { "3" }, "failed_cases: case 3 (bot_response_rating FAILURE)")
  tap.is(run.cases[3]:metric("action_sequence_match").error,
    "Actual response does not match the expected response", "expectation errorMessage kept")
  tap.is(run.cases[3]:metric("action_sequence_match").passed, true, "an errorMessage is no verdict")
  local rate, passed, judged = run:pass_rate()
  tap.ok(math.abs(rate - 2 / 3) < 1e-9 and passed == 2 and judged == 3, "pass_rate over cases")
  tap.is(run:pass_rate("topic_sequence_match"), 1.0, "pass_rate of one metric")
  tap.is_deeply(run:metric_names(),
    { "topic_sequence_match", "action_sequence_match", "bot_response_rating" }, "metric names")
  tap.is_deeply(run:scores("bot_response_rating"), { 0.9, 0.9, 0.1 }, "score distribution")
  tap.is(#run:metrics("action_sequence_match"), 3, "run:metrics(name)")
  tap.is(run:passed(), false, "run:passed false with a failed case")
  tap.is_deeply(run:summary(), { total = 3, passed = 2, failed = 1, unknown = 0, errored = 0 },
    "summary counts")
  tap.is(run:case(3), run.cases[3], "case by position")
  tap.is(run:case("2"), run.cases[2], "case by name")
  tap.ok(run:done(), "completed run is done")
  tap.like(tostring(setmetatable({ provider = "x", id = 1, status = "completed", cases = { run.cases[1] } },
    getmetatable(run))), "1 case: %d passed", "one case is one case, not 1 cases")
  tap.like(tostring(run), "^agentforce run nil: completed.*3 cases: 2 passed, 1 failed",
    "readable tostring")
  tap.like(tostring(c1:metric("topic_sequence_match")), "topic_sequence_match: PASS %(score 1",
    "metric tostring")
end

do
  local run = model.from.agentforce(load(af_results[1]))
  tap.is(run.status, "running", "results 1: IN_PROGRESS -> running")
  tap.is(run.cases[1].status, "running", "partial results: case still running")
  tap.ok(not run:done(), "running run is not done")
  tap.is(run:passed(), false, "a failed expectation fails the run before it ends")
  tap.is(model.from.agentforce(load(af_results[2])).cases[1]:passed(), true,
    "a completed case of a running run has its verdict")
end

do
  local run = model.from.agentforce(load(af_results[5]))
  local m = run.cases[1]:metric("completeness")
  tap.ok(m.passed == false and m.score == 0.2, "FAILURE with score")
  tap.like(m.reason, "user's query", "&#39; decoded in explainability")
  tap.is(m.label, "completeness", "metricLabel equal to the name is kept")
  tap.is(m.error, nil, "errorCode 0 is no error")
  tap.is(m.actual, nil, "empty actualValue is absent")
  tap.is_deeply(run.cases[1].outputs.actions, {}, "empty action list stays a list")
end

do
  local run = model.from.agentforce(load("agentforce/seed_v63_results.json"))
  local ok, bad = run.cases[1], run.cases[2]
  tap.ok(ok:metric("topic_sequence_match").passed == true, "metricScore PASS -> passed")
  tap.is(ok:metric("topic_sequence_match").score, nil, "older generation has no score")
  tap.is(bad.status, "error", "ERROR test case -> error")
  tap.is(bad.error, "Error message", "test case errorMessage")
  tap.ok(bad.outputs.actions == nil and bad.outputs.topic == nil, "empty generatedData")
  tap.is(bad.metrics[1].passed, false, "metricScore FAILED -> not passed")
  tap.is(bad.metrics[1].error, "Error Message", "expectation errorMessage")
  tap.is(bad:passed(), false, "errored case failed")
  tap.is(run:summary().errored, 1, "summary counts errored cases")
end

do
  local run = model.from.agentforce(load("agentforce/quirks_results.json"))
  tap.is(run.status, "completed", "mixed-case Completed -> completed")
  local c1, c2 = run.cases[1], run.cases[2]
  tap.is(c1.status, "completed", "case status compared case-insensitively")
  tap.is(c2.status, "running", "InProgress -> running")
  tap.is(c1.inputs.utterance, "What's the \"best\" room & rate?", "utterance entities decoded")
  tap.is_deeply(c1.outputs.actions, { "Get_Rooms", "Get_Rates" }, "entity-encoded action string")
  tap.is_deeply(c2.outputs.actions, {}, "'[]' string -> empty list")
  tap.is(c1.outputs.invoked_actions, '[[{"function":{"name":"Get_Rooms"}}]]', "invokedActions decoded")
  tap.is(c1.outputs.response, "The Ocean Suite at $300 & up.", "outcome decoded")
  local m = c1:metric("action_sequence_match")
  tap.ok(m.actual == '["Get_Rooms", "Get_Rates"]' and m.expected == '["Get_Rooms"]',
    "actual/expected decoded")
  tap.is(m.reason, "Extra action 'Get_Rates' was invoked.", "explainability decoded")
  local coherence = c1:metric("coherence")
  tap.ok(coherence.passed == nil and coherence.score == 0.8, "result null: score only, no verdict")
  local latency = c1:metric("output_latency_milliseconds")
  tap.ok(latency.passed == nil and latency.score == 2314, "latency is a score, never a verdict")
  tap.is(c1:passed(), false, "a FAILURE fails the case")
  tap.is(c2:passed(), nil, "a case without metrics has no verdict")
  tap.is(run:pass_rate("coherence"), nil, "no verdicts -> pass_rate nil")
end

do
  local run = model.from.agentforce(load(af_results[7]))
  tap.is(run.status, "completed", "ai-testing SUCCESS -> completed")
  local c2 = run.cases[2]
  tap.is(c2.outputs.response, "I cannot help with that.", "subjectResponse content")
  local m = c2:metric("Response Evaluation")
  tap.ok(m.actual == "cannot help" and m.expected == "should help", "scorerResponse JSON decoded")
  -- No status in the scorer's answer: judged as Salesforce's client judges (actual == expected).
  tap.is(m.passed, false, "a scorer without status fails when actual differs from expected")
  tap.is(run.cases[1]:metric("Response Evaluation").passed, true,
    "a scorer without status passes when actual equals expected")
  local scored = model.from.agentforce { status = "SUCCESS", testCases = { { testNumber = 1,
    testScorerResults = { { scorerName = "Topic Evaluation",
      scorerResponse = '{"status":"FAIL","score":0,"reasoning":"Wrong topic"}' } } } } }
  local sm = scored.cases[1].metrics[1]
  tap.ok(sm.passed == false and sm.score == 0 and sm.reason == "Wrong topic",
    "scorerResponse status/score/reasoning")
  tap.is(c2.status, "completed", "ai-testing cases of a finished run are completed")
end

do -- ai-testing strings are entity-encoded JSON: unescaped first, then decoded
  local run = model.from.agentforce(load("agentforce/agentTesterNGT_entity_encoded_results.json"))
  local c = run.cases[1]
  tap.is(c.inputs.utterance, "What's the weather?", "content object: userInput is the utterance")
  tap.ok(not tostring(c.outputs.response):find("table: ", 1, true), "a content object never prints as table: 0x")
  local response, action = c.metrics[1], c.metrics[2]
  tap.ok(response.actual == "The temperature is > 75\u{b0}F" and response.expected == "Expect < 80\u{b0}F",
    "scorerResponse unescaped before decoding (&gt;, &deg;)")
  tap.ok(response.passed == false and action.passed == true, "no status: actualValue == expectedValue decides")
  tap.is(action.label, "Action Evaluation", "scorerName kept as the label")
end

do -- evaluationType names a scorer; summary, testCaseId, performance, quality scores
  local function enc(t) return (cjson.encode(t):gsub('"', "&quot;")) end
  local run = model.from.agentforce { status = "SUCCESS", summary = { totalNumberOfTestCases = 4 },
    testCases = { { testNumber = 1, testCaseId = "4TCSM0000000001AAA",
      subjectResponse = enc { content = { userInput = "Hi", response = "Hello & welcome" },
        performance = { latencyMs = 812, tokenUsage = { inputTokens = 11, outputTokens = 5, totalTokens = 16 } } },
      testScorerResults = {
        { scorerName = "Task Resolution Evaluation",
          scorerResponse = enc { evaluationType = "evaluator.task_resolution", actualValue = "x", expectedValue = "x" } },
        { scorerName = "Coherence", scorerResponse = enc { evaluationType = "evaluator.coherence", score = 4 } },
        { scorerName = "Latency", scorerResponse = enc { evaluationType = "evaluator.output_latency_milliseconds",
                                                        score = 812 } },
      } } } }
  local c = run.cases[1]
  tap.is(run.total_cases, 4, "summary.totalNumberOfTestCases -> run.total_cases")
  tap.is(c.id, "4TCSM0000000001AAA", "testCaseId -> case.id")
  tap.is(c.outputs.response, "Hello & welcome", "response from the content object")
  tap.ok(c.latency_ms == 812 and c.input_tokens == 11 and c.output_tokens == 5 and c.total_tokens == 16,
    "performance: latency and token usage are case fields")
  local task = c:metric("evaluator.task_resolution")
  tap.ok(task and task.label == "Task Resolution Evaluation" and task.passed == true,
    "metric named by evaluationType, display name as label")
  local coherence = c:metric("evaluator.coherence")
  tap.ok(coherence.score == 4 and coherence.passed == nil, "a quality grade is a score, not a verdict")
  local latency = c:metric("evaluator.output_latency_milliseconds")
  tap.ok(latency.score == 812 and latency.unit == "ms" and latency.passed == nil, "latency: a score in ms")
end

do -- per-expectation startTime/endTime/errorCode are metric fields
  local run = model.from.agentforce { status = "COMPLETED", testCases = { { testNumber = 1, status = "COMPLETED",
    testResults = { { name = "topic_sequence_match", result = "FAILURE", errorCode = 1,
      startTime = "2025-01-01T00:00:01.000Z", endTime = "2025-01-01T00:00:02.000Z" } } } } }
  local m = run.cases[1].metrics[1]
  tap.ok(m.started_at == "2025-01-01T00:00:01.000Z" and m.ended_at == "2025-01-01T00:00:02.000Z"
    and m.error_code == 1, "startTime/endTime/errorCode kept on the metric")
end

do
  local expect = { ["1"] = "queued", ["2"] = "running", ["3"] = "completed" }
  for n, status in pairs(expect) do
    local doc = load("agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ__" .. n .. ".json")
    tap.is(model.from.agentforce(doc).status, status, "status document " .. n .. " -> " .. status)
  end
  tap.is(model.from.agentforce(load("agentforce/einstein_ai-testing_runs_3A2SM000000003F4AQ__1.json")).status,
    "queued", "ai-testing NEW -> queued")
end

-- Status normalization and entity decoding ------------------------------------------

do
  local s, known = model.normalize("agentforce", "RETRY")
  tap.ok(s == "running" and known == false, "unknown status -> running, flagged unknown")
  s, known = model.normalize("agentforce", "in_progress")
  tap.ok(s == "running" and known == true, "lower-case status known")
  tap.is(model.normalize("agentforce", "TERMINATED"), "cancelled", "TERMINATED -> cancelled")
  tap.is(model.normalize("agentforce", "ERROR"), "error", "ERROR -> error")
  tap.is(model.normalize("agentforce", "FAILED"), "failed", "ai-testing FAILED -> failed")
  tap.is(model.normalize("futureagi", "evaluating"), "running", "evaluating is not terminal")
  tap.is(model.normalize("futureagi", "cancelling"), "running", "cancelling is not terminal")
  tap.is(model.normalize("futureagi", "started"), "queued", "execute's 'started'")
  tap.is(model.normalize("glow", "not_started"), "queued", "glow not_started")
  tap.ok(model.terminal("error") and not model.terminal("running"), "terminal statuses")
  tap.is(model.unescape("&amp;quot;"), "&quot;", "entities decoded once")
  tap.is(model.unescape("it&#x27;s &unknown; &#8364;"), "it's &unknown; €", "hex, unknown, unicode")
end

-- Future AGI -----------------------------------------------------------------------

do
  local calls = {}
  for _, page in ipairs { "futureagi/calls_page1.json", "futureagi/calls_page2.json" } do
    for _, call in ipairs(load(page).results) do calls[#calls + 1] = call end
  end
  local status = load("futureagi/status_completed.json")
  local run = model.from.futureagi(status, calls)
  tap.is(run.id, "b7e1c2d3-4f5a-4b6c-8d9e-0a1b2c3d0001", "execution id is the run id")
  tap.is(run.run_test_id, "6f1c1f8e-9a53-4c1b-8d3e-0f6f2d1a0001", "run test id kept")
  tap.is(run.status, "completed", "completed")
  local total = 0
  for i, call in ipairs(calls) do
    local n = 0
    for _ in pairs(call.eval_outputs) do n = n + 1 end
    total = total + n
    tap.is(#run.cases[i].metrics, n, "call " .. i .. ": one metric per eval output")
  end
  tap.is(total, 9, "all eval outputs accounted for")
  local c1, c2, c3 = run.cases[1], run.cases[2], run.cases[3]
  tap.is(c1.name, "Refund request", "case named by scenario")
  tap.is(c1.outputs.response, "I have issued a refund for order 1234.", "last assistant message")
  tap.is(c1.score, 8.5, "overall score")
  tap.is(c1:metric("task_completion").passed, true, "Pass/Fail 'Passed'")
  tap.is(c2:metric("task_completion").passed, false, "Pass/Fail 'Failed'")
  tap.ok(c1:metric("tone").score == 0.82 and c1:metric("tone").passed == nil, "score, no verdict")
  tap.is(c1:metric("sentiment").label, "polite", "choice")
  tap.is(c2:metric("sentiment").label, "rude, curt", "several choices")
  local pending = c3:metric("task_completion")
  tap.ok(pending.passed == nil and pending.status == "running", "pending {} eval: no verdict")
  tap.is(pending.id, "11111111-0000-4000-8000-000000000001", "pending eval named from other calls")
  local skipped = c3:metric("tone")
  tap.ok(skipped.skipped and skipped.status == "skipped" and skipped.error == nil
    and skipped.score == nil, "skipped eval (error false): no score, no error")
  local s = c3:metric("sentiment")
  tap.ok(s.label == "neutral" and s.score == 0.1, "newer output/output_type shape")
  tap.ok(c3.status == "failed" and c3.error == "assistant-error", "failed call")
  tap.is(c3:passed(), false, "failed call fails")
  local rate, passed, judged = run:pass_rate("task_completion")
  tap.ok(rate == 0.5 and passed == 1 and judged == 2, "pending evals are not judged")
  tap.is_deeply(run:metric_names(), { "task_completion", "tone", "sentiment" }, "metric names")
  local evaluating = model.from.futureagi(load("futureagi/status_evaluating.json"), {})
  tap.ok(evaluating.status == "running" and not evaluating:done(), "evaluating is still running")
end

-- Kapso ----------------------------------------------------------------------------

do
  local doc = load("kapso/run_completed.json").data
  local run = model.from.kapso(doc)
  tap.is(run.status, "completed", "execution_completed + ended_at -> completed")
  local c = run.cases[1]
  local m = c:metric("score")
  tap.ok(m.score == 9.5 and m.reason == "The agent performed well on this test", "score + feedback")
  tap.is(m.passed, nil, "no threshold, no verdict")
  tap.is(run:pass_rate(), nil, "no threshold, no pass rate")
  tap.is(c.outputs.response, "Hello! I am the Acme support assistant.", "agent reply")
  tap.is(c.inputs.rubric, "The agent should respond with a polite introduction", "rubric input")
  tap.is(model.from.kapso(doc, { pass_score = 8 }).cases[1]:metric("score").passed, true,
    "pass_score 8 -> passed")
  tap.is(model.from.kapso(doc, { pass_score = 9.6 }):passed(), false, "pass_score 9.6 -> failed")
  local pending = model.from.kapso(load("kapso/run_pending.json").data)
  tap.ok(pending.status == "queued" and #pending.cases == 0, "not started -> queued, no cases")
  local failed = model.from.kapso(load("kapso/run_failed.json").data)
  tap.ok(failed.status == "error" and failed.error == "Agent did not answer within 60 seconds",
    "error object -> error with its message")
  tap.is(failed:passed(), false, "errored run failed")
end

-- Every real document from the services' public sources (the SOURCES files) parses into
-- the model: each case and each expectation/eval mapped, each source object kept as raw.

do
  local real = 0
  for _, path in ipairs(af_results) do
    if not path:find("seed_v63", 1, true) and not path:find("quirks", 1, true) then real = real + 1 end
  end
  for _, path in ipairs {
    "agentforce/einstein_ai-evaluations_runs.json", "agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ__1.json",
    "agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ__2.json",
    "agentforce/einstein_ai-evaluations_runs_4KBSM000000003F4AQ__3.json",
    "agentforce/einstein_ai-testing_runs.json", "agentforce/einstein_ai-testing_runs_3A2SM000000003F4AQ__1.json",
  } do
    local doc = load(path)
    local run = model.from.agentforce(doc, { id = "x" })
    tap.ok(run.raw == doc and run.raw_status == doc.status and #run.cases == 0,
      path:match("[^/]+$") .. ": a start/status document maps to a run with its raw status")
    real = real + 1
  end
  local call = load("futureagi/docs_call_execution_detail.json")
  local run = model.from.futureagi({ status = "completed" }, { call })
  local c = run.cases[1]
  tap.ok(#run.cases == 1 and c.raw == call and c.id == call.id and c.duration == 125.4 and c.score == 8.5
    and #c.outputs.transcript == 2 and c.outputs.summary == call.call_summary and c.inputs.scenario == "Billing Inquiry",
    "Future AGI docs' call detail: id, duration, score, transcript, summary, scenario")
  local m = c.metrics[1]
  tap.ok(#c.metrics == 1 and m.name == "tone_check" and m.score == 9 and m.reason == "Polite and professional"
    and m.raw == call.eval_outputs.tone_check, "its eval output {score, explanation} is a metric")
  local page = load("futureagi/docs_test_execution_page.json")
  local prun = model.from.futureagi({ status = page.status }, page.results)
  tap.ok(prun.status == "completed" and #prun.cases == #page.results and prun.cases[1].raw == page.results[1]
    and prun.cases[1].duration == 45.2, "Future AGI docs' test execution page: one case per call")
  real = real + 2
  tap.is(real, 16, "16 real documents from the public sources parse into the model, nothing dropped")
end

do -- Future AGI: voice transcript rows (speaker_role + content), eval outputs' boolean error
  local run = model.from.futureagi({ status = "completed" }, { {
    id = "c1", status = "completed", scenario = "S",
    transcript = { { speaker_role = "user", content = "Hi" }, { speaker_role = "assistant", content = "Hello" } },
    eval_outputs = { e1 = { name = "polite", value = "Passed", type = "Pass/Fail", error = false },
                     e2 = { name = "accurate", value = cjson.null, type = "Pass/Fail", error = true,
                            reason = "The evaluator failed" } } } })
  local c = run.cases[1]
  tap.ok(c.outputs.transcript[1].role == "user" and c.outputs.response == "Hello", "speaker_role rows are roles")
  local ok_m, bad_m = c:metric("polite"), c:metric("accurate")
  tap.ok(ok_m.error == nil and ok_m.passed == true, "error = false: no error")
  tap.ok(bad_m.error == "The evaluator failed" and bad_m.status == "error" and bad_m.passed == nil,
    "error = true: an errored eval, no verdict")
end

-- Glow -----------------------------------------------------------------------------

do
  local doc = load("glow/get_test.json")
  local run = model.from.glow(doc)
  tap.ok(run.id == "t-100" and run.status == "running", "whole test: 2 of 3 completed -> running")
  tap.is(#run.cases, #doc.runs, "one case per run item")
  tap.is(run.cases[1].name, "Password reset", "case named by invocation title")
  local g1 = run.cases[1]:metric("grade")
  tap.ok(g1.score == 0.9 and g1.passed == true, "grade falls back to the invocation's")
  tap.is(run.cases[2]:metric("grade").passed, false, "grade_passed false")
  tap.is(#run.cases[3].metrics, 0, "ungraded run: no metric")
  tap.is(run:pass_rate("grade"), 0.5, "pass rate of graded runs")
  local one = model.from.glow(doc, { run_id = "run-2", test_id = "t-100" })
  tap.ok(one.id == "run-2" and one.status == "completed" and #one.cases == 1, "one replay")
  tap.is(one.cases[1].outputs.chat_id, "inv-2", "chat id output (the invocation id)")
  tap.is(one.cases[1].outputs.response, nil, "a get document carries no message text (messages by text id)")
  tap.is(require("evalua.providers.glow.mapper").replays(doc, "run-2"), 1, "replays: binding rows of a run")
  tap.is(one.cases[1]:metric("grade").reason, "Misses part of the question.", "grade feedback")
  tap.is(one.cases[1].inputs.title, "Billing dispute", "invocation title as input")
  local missing = model.from.glow(doc, { run_id = "run-9" })
  tap.is(missing.status, "queued", "replay not listed yet -> queued")
end

tap.done()
