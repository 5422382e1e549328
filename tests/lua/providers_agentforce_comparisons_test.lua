-- Salesforce custom evaluations (string_comparison, numeric_comparison: operator, a JSONPath
-- actual, a literal or referenced expected) and contextVariable / conversationHistory
-- inputs, through the model: live from the sandbox in both result generations, and on
-- documents where Salesforce's verdict cannot stand (no actual value, unknown operator).
local t = require "tap"
local support = require "providers_support"
local agentforce = require "evalua.agentforce"
local model = require "evalua.model"

-- The metric of `case` labelled `label` (a case has several comparisons).
local function labelled(case, label)
  for _, m in ipairs(case.metrics) do
    if m.label == label then return m end
  end
  return nil
end

local function param(name, value, ref)
  return { name = name, value = value, isReference = ref or false }
end

-- A one-case results document whose single expectation is `r`.
local function doc_with(r)
  return { status = "COMPLETED", testCases = { { testNumber = 1, status = "COMPLETED",
    inputs = { utterance = "u" }, generatedData = {}, testResults = { r } } } }
end

support.run(function()
  local base = support.start { run_seconds = 0.4 }
  local function connect(extra)
    local opts = { base_url = base .. "/sf", client_id = "sandbox-client-id", client_secret = "sandbox-client-secret",
      wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" } }
    for k, v in pairs(extra) do opts[k] = v end
    return agentforce.connect(opts)
  end

  for _, version in ipairs { "64.0", "63.0" } do
    local run = connect({ api_version = version }):start("Custom_Evaluations_Agent"):wait():results()
    local label = "v" .. version .. ": "
    local status, refund, eta = run.cases[1], run.cases[2], run.cases[3]
    t.is(#run.cases, 3, label .. "three cases")
    t.is_deeply(status.inputs.context_variables, { CustomerId = "003SM000001AbCdYAK", EndUserLanguage = "en_US" },
      label .. "contextVariable inputs on the case, by name")
    t.is_deeply(status.inputs.conversation_history, {
      { role = "user", content = "Hi, I ordered a sweater last week." },
      { role = "assistant", content = "Hello! How can I help with your order?", topic = "Order_Status" } },
      label .. "conversationHistory inputs on the case, the agent as assistant")
    t.is(#status.outputs.transcript, 4, label .. "the transcript: the history, then the utterance and the answer")
    t.is(status.outputs.transcript[3].content, "Where is my order #00123?", label .. "... the utterance third")
    t.is(eta.inputs.context_variables, nil, label .. "a case without context variables has none")

    local topic = labelled(status, "topic is Order_Status")
    t.is_deeply(topic.comparison, { kind = "string", operator = "equals", actual = "Order_Status",
      expected = "Order_Status", actual_path = "$.generatedData.topic" },
      label .. "string_comparison: operator, operands and the actual's JSONPath on the metric")
    t.is(topic.passed, true, label .. "... passed")
    local days = labelled(status, "delivery within 5 days")
    t.ok(days.comparison.kind == "numeric" and days.comparison.actual == 3 and days.comparison.expected == 5
      and days.comparison.operator == "less_than_or_equal" and days.passed == true,
      label .. "numeric_comparison: numbers compared with less_than_or_equal, passed")
    t.is(status:passed(), true, label .. "case 1 passes every comparison")

    local amount = labelled(refund, "refunds the charged amount")
    t.is(amount.comparison.expected_path, "$.generatedData.invokedActions[0][0].function.input.amount",
      label .. "an expected given by reference (isReference) keeps its JSONPath")
    t.ok(amount.comparison.expected == 49 and amount.comparison.actual == 0 and amount.passed == false,
      label .. "... and its resolved value: 0 >= 49 failed")
    t.is(labelled(refund, "confirms the refund").passed, false, label .. "startswith failed")
    t.is(refund:passed(), false, label .. "case 2 fails")

    local missing = labelled(eta, "courier within 30 minutes")
    t.is(missing.passed, false, label .. "a numeric_comparison with no actual value is not a pass")
    t.like(missing.error, "no actual value at %$%.generatedData%.invokedActions%[0%]%[0%]%.function%.output%.etaMinutes",
      label .. "... the error names the JSONPath that matched nothing")
    local unknown = labelled(eta, "sounds sure")
    t.is(unknown.passed, false, label .. "an unknown operator is not a pass")
    t.like(unknown.error, "unknown operator 'approximately' for string_comparison %(Salesforce knows equals, contains, "
      .. "startswith, endswith%)", label .. "... and says which operators exist")
    t.like(unknown.error, "Salesforce: Unsupported operator", label .. "... with Salesforce's own message")
    t.is(run:passed(), false, label .. "the run does not pass")
  end

  do -- ai-testing: the inputs come back in subjectResponse.content
    local run = connect({ api = "ai-testing", api_version = "66.0" }):start("Custom_Evaluations_Agent"):wait():results()
    local c = run.cases[1]
    t.is(c.inputs.context_variables.CustomerId, "003SM000001AbCdYAK", "ai-testing: context variables ({name, value})")
    t.is(c.inputs.conversation_history[2].topic, "Order_Status", "ai-testing: conversation history")
    t.is(#c.outputs.transcript, 4, "ai-testing: history in the transcript")
  end

  do -- the earlier generation's comparisons, without parameters: Salesforce's verdict stands
    local run = connect({ api_version = "65.0" }):start("Local_Info_Agent_Quirks"):wait():results()
    local museum = run.cases[#run.cases]
    local s, n = museum:metric("string_comparison"), museum:metric("numeric_comparison")
    t.ok(s.passed == true and s.comparison.kind == "string" and s.comparison.operator == nil,
      "a comparison without parameters: kind known, operator not, PASS kept")
    t.ok(n.passed == false and n.comparison.actual == 1873 and n.comparison.expected == 1500 and n.error == nil,
      "its numeric comparison keeps Salesforce's FAILURE")
  end
end)

-- Documents where Salesforce's own verdict must not make a pass.
do
  local r = { name = "numeric_comparison", result = "PASS", score = 1, actualValue = "", expectedValue = "10",
    parameters = { param("operator", "less_than"), param("actual", "$.generatedData.latency", true),
                   param("expected", "10") } }
  local run = model.from.agentforce(doc_with(r))
  local m = run.cases[1].metrics[1]
  t.is(m.passed, false, "PASS on a numeric_comparison with no actual value is no pass")
  t.like(m.error, "no actual value at %$%.generatedData%.latency to compare; Salesforce said PASS",
    "... and the error says Salesforce claimed one")
  t.is(run:passed(), false, "... nor is its run")

  r = { name = "numeric_comparison", result = "PASS", actualValue = "fast", expectedValue = "10",
    parameters = { param("operator", "less_than"), param("actual", "$.generatedData.outcome", true), param("expected", "10") } }
  m = model.from.agentforce(doc_with(r)).cases[1].metrics[1]
  t.ok(m.passed == false and m.error:find("is not a number: fast", 1, true), "a non-numeric actual is no pass")

  r = { name = "string_comparison", metricScore = "PASS", actualValue = "a", expectedValue = "a",
    parameters = { param("operator", "EQUALZ"), param("actual", "$.generatedData.topic", true), param("expected", "a") } }
  m = model.from.agentforce(doc_with(r)).cases[1].metrics[1]
  t.ok(m.passed == false and m.error:find("unknown operator 'EQUALZ'", 1, true),
    "an unknown operator is no pass even when Salesforce said PASS (metricScore generation)")

  r = { name = "string_comparison", result = "PASS", actualValue = "Order_Status", expectedValue = "order",
    parameters = { param("operator", "Contains"), param("actual", "$.generatedData.topic", true), param("expected", "order") } }
  m = model.from.agentforce(doc_with(r)).cases[1].metrics[1]
  t.ok(m.passed == true and m.error == nil, "operators are compared without regard to case")

  local odd = doc_with({ name = "numeric_comparison", result = "FAILURE", actualValue = "3", parameters = "operator" })
  odd.testCases[1].inputs = { utterance = "u", contextVariable = "CustomerId", conversationHistory = { 1, "two" } }
  local ok, parsed = pcall(model.from.agentforce, odd)
  t.ok(ok and parsed.cases[1].inputs.context_variables == nil and parsed.cases[1].inputs.conversation_history == nil
    and parsed.cases[1].metrics[1].passed == false, "odd parameter and input shapes are read without raising")

  r = { name = "bot_response_rating", result = "PASS", actualValue = "x", expectedValue = "y" }
  m = model.from.agentforce(doc_with(r)).cases[1].metrics[1]
  t.ok(m.comparison == nil and m.passed == true, "other expectations carry no comparison")
end

t.done()
