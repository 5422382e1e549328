-- Salesforce conversation-level tests (the Agentforce Testing API's multi-turn tests): each
-- test case gives a goal, Salesforce's simulated caller talks to the agent until the goal is
-- reached or the turn budget runs out, and scorers (task_resolution by default) grade the
-- conversation. `sf:start_conversation{...}` saves the suite (a workbook) and runs it
-- asynchronously (the run is its worksheet, one row per case); `sf:converse{...}` runs
-- without saving ("ephemeral", one synchronous request). Both give the same Run as
-- `sf:start`: one case per conversation, its turns as the transcript.
-- Resources under `einstein/ai-testing/conversation-tests`: `ephemeral-run` is Salesforce's
-- (@salesforce/agents EphemeralConversationTestInput); the saved runs' `runs`,
-- `runs/{worksheetId}` and `runs/{worksheetId}/results` follow the guide's Run / Get Status /
-- Get Results (their paths are the sandbox's reading, tests/sandbox/README.md).
local common = require "evalua.providers.common"
local errors = require "evalua.errors"
local mapper = require "evalua.providers.agentforce.mapper"
local model = require "evalua.model"
local turns = require "evalua.providers.agentforce.turns"

local conversation = {}
local val, text, number = model.value, model.text, model.number

-- A list field of a document, or an empty list when it is absent or not a list.
local function list(v)
  v = val(v)
  return type(v) == "table" and v or {}
end

local Client = common.client_class("agentforce")
Client.descriptor_fields = { "kind", "api_version", "suite", "workbook_id", "ephemeral", "goals" }

local spec_kinds = {
  agent_id = "string", agent_version_id = "string", project_id = "string", project_version_id = "string",
  name = "string", max_turns = "count", persona = "string", simulation = "boolean",
  evaluation_mode = "string", preview = "table", cases = "table", timeout = "duration",
}
local case_fields = { goal = true, context = true, scorers = true, surface = true }

-- The conversation client of `sf`: its credentials and settings, these resources. One per
-- client, or a fresh one with its own request timeout (a synchronous run takes minutes).
local clients = setmetatable({}, { __mode = "k" })

local function client_for(sf, timeout)
  if not timeout and clients[sf] then return clients[sf] end
  local c = common.new_client(Client, { base_url = sf.base_url, auth = sf.auth, api_version = sf.api_version,
    timeout = timeout or sf.timeout, wait = sf.wait, parent = sf, vendor_error = sf.vendor_error })
  if not timeout then clients[sf] = c end
  return c
end

function Client:url(path)
  return self.parent:url("/conversation-tests" .. path, "ai-testing")
end

local function bad(fname, fmt, ...)
  errors.argerror(1, fname, fmt:format(...))
end

-- One case of the spec as Salesforce's ConversationTestCaseInput.
local function case_input(fname, i, c)
  if type(c) ~= "table" then bad(fname, "cases[%d] must be a table, got %s", i, model.kind_of(c)) end
  for k in pairs(c) do
    if not case_fields[k] then bad(fname, "cases[%d]: unknown field '%s'", i, tostring(k)) end
  end
  if type(c.goal) ~= "string" or c.goal == "" then
    bad(fname, "cases[%d].goal must be a non-empty string, got %s", i, model.kind_of(c.goal))
  end
  local input = { number = i, conversationGoal = c.goal }
  if c.context ~= nil then
    if type(c.context) ~= "table" then bad(fname, "cases[%d].context must be a table of name = value", i) end
    local names = {}
    for k, v in pairs(c.context) do
      if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean") then
        bad(fname, "cases[%d].context: %s = %s is not a name = value pair", i, tostring(k), tostring(v))
      end
      names[#names + 1] = k
    end
    table.sort(names)
    input.contextVariables = {}
    for j, k in ipairs(names) do input.contextVariables[j] = { variableName = k, variableValue = tostring(c.context[k]) } end
  end
  if c.scorers ~= nil then
    if type(c.scorers) ~= "table" then bad(fname, "cases[%d].scorers must be a list", i) end
    input.scorers = {}
    for j, s in ipairs(c.scorers) do
      local name, expected = s, nil
      if type(s) == "table" then name, expected = s.name, s.expected end
      if type(name) ~= "string" or name == "" or (expected ~= nil and type(expected) ~= "string") then
        bad(fname, "cases[%d].scorers[%d] must be a scorer name or {name = ..., expected = ...}", i, j)
      end
      input.scorers[j] = { name = name, expectedValue = expected }
    end
  end
  if c.surface ~= nil then
    if type(c.surface) ~= "string" then bad(fname, "cases[%d].surface must be a string", i) end
    input.connections = { surfaceConfig = { surfaceType = c.surface } }
  end
  return input
end

-- The request body (EphemeralConversationTestInput, plus the suite's name when saved) and
-- the cases' inputs as the model keeps them.
local function request(fname, spec, saved)
  spec = common.check_options(fname, spec, spec_kinds)
  local agent = spec.agent_id or spec.agent_version_id
  local project = spec.project_id or spec.project_version_id
  if agent and project or not (agent or project) then
    bad(fname, "give agent_id and agent_version_id (a published agent) or project_id and project_version_id (a draft)")
  end
  if agent and not (spec.agent_id and spec.agent_version_id) then
    bad(fname, "agent_id and agent_version_id go together")
  end
  if project and not (spec.project_id and spec.project_version_id) then
    bad(fname, "project_id and project_version_id go together")
  end
  if saved and not spec.name then bad(fname, "name (of the test suite to save) is required") end
  if not saved and (spec.name or spec.evaluation_mode) then
    bad(fname, "%s is for saved suites (sf:start_conversation): converse saves nothing",
      spec.name and "name" or "evaluation_mode")
  end
  if saved and spec.timeout then bad(fname, "timeout is for converse; give wait{timeout = ...} a saved run") end
  if type(spec.cases) ~= "table" or #spec.cases == 0 then bad(fname, "cases must be a non-empty list of {goal = ...}") end
  local body = { agentId = spec.agent_id, agentVersionId = spec.agent_version_id, projectId = spec.project_id,
    projectVersionId = spec.project_version_id, maxTurns = spec.max_turns, persona = spec.persona,
    enableSimulationMode = spec.simulation, previewConfig = spec.preview, name = spec.name,
    evaluationMode = spec.evaluation_mode, testCases = {} }
  local goals = {}
  for i, c in ipairs(spec.cases) do
    body.testCases[i] = case_input(fname, i, c)
    goals[i] = { number = i, goal = c.goal, context_variables = c.context }
  end
  return body, goals, spec
end

-- The agent's topics and actions over a conversation, in order.
local function topics_and_actions(transcript)
  local topics, actions = {}, {}
  for _, m in ipairs(transcript or {}) do
    if m.topic and topics[#topics] ~= m.topic then topics[#topics + 1] = m.topic end
    for _, a in ipairs(m.actions or {}) do actions[#actions + 1] = a end
  end
  return topics, actions
end

-- One conversation: a case named by its testNumber. `given` holds the inputs sent for it.
local function conversation_case(tc, given)
  local doc, plain = mapper.embedded_json(tc.subjectResponse)
  doc = doc or {}
  local transcript = turns.list(doc.turns)
  local topics, actions = topics_and_actions(transcript)
  local n = number(tc.testNumber)
  given = given or {}
  local failure = text(doc.errorMessage) or (doc.turns == nil and plain) or nil
  local c = model.case {
    name = tostring(n or "?"),
    number = n,
    id = text(tc.rowId),
    status = failure and "error" or "completed",
    inputs = { goal = given.goal, context_variables = given.context_variables },
    outputs = {
      transcript = transcript,
      response = model.last_reply(transcript),
      topics = topics,
      actions = actions,
      completion_reason = text(doc.completionReason),
      turns = number(doc.numberOfTurns),
    },
    error = failure,
    raw = tc,
  }
  for _, r in ipairs(list(tc.testScorerResults)) do
    c.metrics[#c.metrics + 1] = mapper.scorer(r)
  end
  return c
end

-- A results document (ConversationTestResultsResponse) as the model's Run fields.
local function parse(doc, run)
  local summary = val(doc.summary)
  local failure = val(doc.errorRepresentation)
  local status = model.normalize("agentforce", doc.status)
  local parsed = model.run {
    status = status,
    raw_status = text(doc.status),
    total_cases = type(summary) == "table" and number(summary.totalNumberOfTestCases) or nil,
    error = type(failure) == "table" and text(failure.errorMessage) or nil,
    raw = doc,
  }
  local given = {}
  for _, g in ipairs(run.goals or {}) do given[g.number] = g end
  for _, tc in ipairs(list(doc.testCases)) do
    parsed.cases[#parsed.cases + 1] = conversation_case(tc, given[number(tc.testNumber)])
  end
  return parsed
end

local function new_run(client, fields)
  fields.kind, fields.api_version = "conversation", client.api_version
  return client:new_run(fields)
end

-- Start a saved conversation test suite; returns a Run (status `queued`).
function conversation.start(sf, spec)
  local body, goals = request("start_conversation", spec, true)
  local client = client_for(sf)
  local token, doc = client:tracked_start(body.name, function()
    return client:call("POST", "/runs", { json = body, retry = { idempotent = false }, expect = { "worksheetId" } })
  end)
  local run = new_run(client, { start_token = token, id = text(doc.worksheetId),
    status = model.normalize("agentforce", doc.status), raw_status = text(doc.status),
    suite = body.name, workbook_id = text(doc.workbookId), row_ids = val(doc.rowIds),
    max_turns = body.maxTurns, goals = goals, raw = doc })
  return client:started(run)
end

-- Run conversation tests without saving a suite: one request that answers when every
-- conversation is over. Returns the finished Run. Input Salesforce rejects (it answers
-- status Failed with no test cases) is a configuration error quoting its message.
function conversation.converse(sf, spec)
  local body, goals, checked = request("converse", spec, false)
  local client = client_for(sf, checked.timeout or "15m")
  local token, doc = client:tracked_start("ephemeral conversation test", function()
    local answer = client:call("POST", "/ephemeral-run", { json = body, retry = { idempotent = false } })
    local failure = val(answer.errorRepresentation)
    local status = model.normalize("agentforce", answer.status)
    if #list(answer.testCases) == 0 and status == "failed" then
      errors.raise({ kind = "config", vendor_code = type(failure) == "table" and text(failure.errorCode) or nil,
        message = ("Salesforce rejected the conversation test: %s"):format(
          type(failure) == "table" and text(failure.errorMessage) or "no reason given") })
    end
    if not model.terminal(status) then -- nothing to poll: an ephemeral run has no id
      errors.raise({ kind = "protocol", url = client:url("/ephemeral-run"), message = ("the ephemeral run "
        .. "answered status %s, not a finished run"):format(tostring(text(answer.status))) })
    end
    return answer
  end)
  local run = new_run(client, { start_token = token, id = "ephemeral-" .. token, ephemeral = true,
    max_turns = body.maxTurns, goals = goals, status = "queued" })
  common.apply(run, parse(doc, run))
  common.state(run).results_read = true
  return client:started(run)
end

-- A saved run from its descriptor; an ephemeral one left nothing on Salesforce to read.
function conversation.attach(sf, desc)
  if desc.ephemeral then
    errors.raise({ kind = "config", message = ("conversation run %s was ephemeral: Salesforce saved nothing "
      .. "to re-attach to; run it again"):format(tostring(desc.id)) })
  end
  return client_for(sf):attach(desc)
end

local function read_results(self, run)
  local parsed = parse(self:call("GET", "/runs/" .. run.id .. "/results"), run)
  common.state(run).results_read = model.terminal(parsed.status)
  return parsed
end

-- One poll: the small status document until it is terminal, then the results, which decide
-- completion (as for the turn-level runs).
function Client:poll_run(run)
  local st = common.state(run)
  if not st.status_done then
    local doc = self:call("GET", "/runs/" .. run.id)
    local status = model.normalize("agentforce", doc.status)
    if not model.terminal(status) then
      run.status, run.raw_status = status, text(doc.status)
      return
    end
    st.status_done = true
  end
  common.apply(run, read_results(self, run))
end

-- The results of a finished run were read by its last poll; otherwise (partial) now.
function Client:fetch_results(run)
  if common.state(run).results_read then return end
  local parsed = read_results(self, run)
  if model.terminal(run.status) and not model.terminal(parsed.status) then
    parsed.status, parsed.raw_status = nil, nil -- keep the terminal status the poll saw
  end
  common.apply(run, parsed)
end

return conversation
