-- Salesforce results into the common model (`model.from.agentforce`): both API generations,
-- ai-evaluations (expectations in `testResults`, verdicts as `result` PASS/FAILURE + `score`
-- or, in the seed's v63 generation, `metricScore`) and ai-testing (scorers in
-- `testScorerResults`, each verdict an HTML-entity-encoded JSON string). A case's context
-- variables and conversation history are its inputs (turns.lua); custom evaluations carry
-- their comparison (comparison.lua). Conversation-level results: conversation.lua.
local cjson = require "cjson.safe"
local comparison = require "evalua.providers.agentforce.comparison"
local model = require "evalua.model"
local turns = require "evalua.providers.agentforce.turns"

local mapper = {}
local val, text, number, unescape, verdict = model.value, model.text, model.number, model.unescape, model.verdict
local unescaped, Metric = model.unescaped, model.Metric

mapper.statuses = {
  NEW = "queued", CREATED = "queued", INPROGRESS = "running",
  COMPLETED = "completed", SUCCESS = "completed", FAILED = "failed",
  ERROR = "error", TERMINATED = "cancelled",
}

local normalize = model.normalizer("agentforce")

-- A JSON document that Salesforce sends as a string, entity-encoded (`{&quot;a&quot;: 1}`):
-- unescape first, then decode (decoding first fails on the entities). A table as is;
-- anything that is not JSON: nil and the text.
local function embedded_json(v)
  v = val(v)
  if type(v) == "table" then return v end
  if type(v) ~= "string" then return nil end
  local s = unescape(v)
  local decoded = cjson.decode(s)
  if type(decoded) == "table" then return decoded end
  return nil, s
end
mapper.embedded_json = embedded_json

-- A list of action names from a list, a JSON string, or Salesforce's entity-encoded
-- Python-style string (`"[&#39;A&#39;, &#39;B&#39;]"`).
local function action_list(v)
  local decoded, s = embedded_json(v)
  if decoded or s == nil then return decoded end
  local list = {}
  if s:match("^%s*%[") then
    for _, item in s:gmatch("(['\"])(.-)%1") do list[#list + 1] = item end
  elseif s:match("%S") then
    list[1] = s
  end
  return list
end

-- A value shown as text: strings as they are, numbers and booleans printed, tables as JSON
-- (never `table: 0x...`).
local function shown(v)
  v = val(v)
  if type(v) == "table" then return cjson.encode(v) end
  return text(v)
end

-- Numeric quality metrics: their values are scores on the metric's own scale, not verdicts.
local units = { output_latency_milliseconds = "ms" }

-- Salesforce ai-evaluations expectation (both generations: result/score and metricScore).
local function expectation(r)
  local result = val(r.result)
  if result == nil then result = val(r.metricScore) end
  local name = text(r.name)
  return comparison.apply(setmetatable({
    name = name,
    passed = verdict(result),
    score = number(r.score),
    unit = name and units[name],
    label = text(r.metricLabel),
    expected = unescaped(r.expectedValue),
    actual = unescaped(r.actualValue),
    reason = unescaped(r.metricExplainability),
    error = text(r.errorMessage),
    error_code = val(r.errorCode),
    status = text(r.status) and normalize(r.status),
    started_at = text(r.startTime),
    ended_at = text(r.endTime),
    raw = r,
  }, Metric), r)
end

-- An ai-testing scorer. `evaluationType` (`evaluator.task_resolution`) identifies it; the
-- display `scorerName` may change and is kept as the label. With no status of its own, a
-- scorer passes when its actual value equals the expected one, as Salesforce's client judges.
local function scorer(r)
  local detail, plain = embedded_json(r.scorerResponse)
  detail = detail or { reason = plain }
  local passed
  for _, field in ipairs { "result", "status", "metricScore", "passed" } do
    if passed == nil then passed = verdict(detail[field]) end
  end
  local actual, expected = val(detail.actualValue), val(detail.expectedValue)
  if passed == nil and (actual ~= nil or expected ~= nil) then
    passed = actual ~= nil and actual == expected
  end
  local kind = text(detail.evaluationType)
  local short = kind and kind:gsub("^evaluator%.", "")
  local errored = (text(detail.status) or ""):upper() == "ERROR"
  return model.metric {
    name = kind or text(r.scorerName),
    evaluation_type = kind,
    label = text(r.scorerName),
    passed = passed,
    score = number(detail.score),
    unit = short and units[short],
    scale = val(detail.scale),
    expected = shown(expected),
    actual = shown(actual),
    reason = text(detail.reasoning) or text(detail.reason) or text(detail.metricExplainability),
    error = text(detail.errorMessage) or (errored and (text(detail.reasoning) or "the scorer failed") or nil),
    raw = r,
  }
end
mapper.scorer = scorer

-- The agent's answer in an ai-testing `subjectResponse`: `{content, performance}` where
-- `content` is the response text or an object (`{"userInput": ..., "response": ...}`).
local function subject(tc)
  local doc, plain = embedded_json(tc.subjectResponse)
  if not doc then return { response = plain } end
  local content = val(doc.content)
  local out = { performance = val(doc.performance) }
  if type(content) == "table" then
    out.utterance = text(content.userInput)
    out.context, out.history = content.contextVariables, content.conversationHistory
    out.response = text(content.response) or text(content.agentResponse) or text(content.output)
      or (out.utterance == nil and shown(content) or nil)
  else
    out.response = text(content)
  end
  return out
end

-- Latency and token usage of an ai-testing response, as case fields.
local function performance(p)
  if type(p) ~= "table" then return {} end
  local tokens = val(p.tokenUsage) or val(p.tokens) or {}
  if type(tokens) ~= "table" then tokens = {} end
  return {
    latency_ms = number(p.latencyMs) or number(p.latency),
    input_tokens = number(tokens.inputTokens) or number(p.inputTokens),
    output_tokens = number(tokens.outputTokens) or number(p.outputTokens),
    total_tokens = number(tokens.totalTokens) or number(p.totalTokens),
  }
end

local function test_case(tc, run_status)
  local data = val(tc.generatedData) or {}
  local inputs = val(tc.inputs) or {}
  local utterance = unescaped(inputs.utterance)
  -- Salesforce's client leaves `outcome` encoded; decoded, assertions on it read naturally.
  local response = unescaped(data.outcome)
  local perf, context, history = {}, inputs.contextVariable, inputs.conversationHistory
  if val(tc.subjectResponse) ~= nil then
    local s = subject(tc)
    response, utterance = s.response, utterance or s.utterance
    perf = performance(s.performance)
    context, history = context or s.context, history or s.history
  end
  history = turns.list(history)
  local status = text(tc.status) and normalize(tc.status)
    or (model.terminal(run_status) and "completed" or "running")
  local c = model.case(model.with_usage({
    name = tostring(number(tc.testNumber) or text(tc.testCaseId) or "?"),
    number = number(tc.testNumber),
    id = text(tc.testCaseId),
    status = status,
    raw_status = text(tc.status),
    started_at = text(tc.startTime),
    ended_at = text(tc.endTime),
    inputs = { utterance = utterance, context_variables = turns.context(context),
               conversation_history = history },
    outputs = {
      response = response,
      topic = text(data.topic),
      actions = action_list(data.actionsSequence),
      invoked_actions = unescaped(data.invokedActions),
      session_id = text(data.sessionId),
      transcript = turns.transcript(history, utterance, response),
    },
    error = text(tc.errorMessage),
    raw = tc,
  }, perf))
  -- Without `performance`, the latency expectation's score is the case's latency.
  local metrics = c.metrics
  for _, r in ipairs(val(tc.testResults) or {}) do
    local m = expectation(r)
    metrics[#metrics + 1] = m
    if c.latency_ms == nil and m.unit == "ms" then c.latency_ms = m.score end
  end
  for _, r in ipairs(val(tc.testScorerResults) or {}) do
    local m = scorer(r)
    metrics[#metrics + 1] = m
    if c.latency_ms == nil and m.unit == "ms" then c.latency_ms = m.score end
  end
  return c
end

-- A Salesforce results document (ai-evaluations or ai-testing), or a status document.
function mapper.run(doc, opts)
  model.need_table(doc, 1, "from.agentforce", "results or status document (table)")
  opts = model.maybe_table(opts, 2, "from.agentforce")
  local status = normalize(doc.status)
  local summary = val(doc.summary)
  local run = model.run {
    provider = "agentforce",
    id = opts.id,
    status = status,
    raw_status = text(doc.status),
    started_at = text(doc.startTime),
    ended_at = text(doc.endTime),
    subject = text(doc.subjectName),
    total_cases = type(summary) == "table" and number(summary.totalNumberOfTestCases) or nil,
    error = text(doc.errorMessage),
    raw = doc,
  }
  for _, tc in ipairs(val(doc.testCases) or {}) do
    run.cases[#run.cases + 1] = test_case(tc, status)
  end
  return run
end

return mapper
