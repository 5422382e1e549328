-- Salesforce Agentforce Testing API client (Connect API `einstein/ai-evaluations/runs`,
-- or the newer `einstein/ai-testing/runs`). OAuth2 client credentials against the org's
-- My Domain; the API itself lives on the instance URL the token response names.
local auth = require "evalua.auth"
local common = require "evalua.providers.common"
local conversation = require "evalua.providers.agentforce.conversation"
local errors = require "evalua.errors"
local hooks = require "evalua.hooks"
local model = require "evalua.model"
local poll = require "evalua.poll"

local agentforce = {}

-- The two API generations differ in path and in the start body's field name.
local start_field = {
  ["ai-evaluations"] = "aiEvaluationDefinitionName",
  ["ai-testing"] = "testDefinitionName",
}

local settings = {
  { "base_url", env = { "SF_MY_DOMAIN" }, required = true },
  { "client_id", env = { "SF_CLIENT_ID" }, required = true },
  { "client_secret", env = { "SF_CLIENT_SECRET" }, required = true, secret = true },
  { "api_version", default = "63.0", kind = "version" },
  { "api", default = "ai-evaluations" },
  -- A start refused because the org already runs its maximum of tests is retried
  -- until a slot frees up, for at most queue_timeout.
  { "queue_timeout", default = "10m", kind = "duration" },
  { "queue_interval", default = "15s", kind = "duration" },
}

-- Normalized statuses of the raw values seen (a service sends a handful): a poll does
-- not redo model.normalize's work. Bounded, in case a service sends a new value each time.
local seen_status, seen_known, nseen = {}, {}, 0

local function normalize(raw)
  local status = seen_status[raw]
  if status then return status, seen_known[raw] end
  local known
  status, known = model.normalize("agentforce", raw)
  if type(raw) == "string" and nseen < 64 then
    seen_status[raw], seen_known[raw], nseen = status, known, nseen + 1
  end
  return status, known
end

local Client = common.client_class("agentforce")
Client.descriptor_fields = { "api", "api_version", "definition" }
agentforce.Client = Client

function agentforce.connect(opts)
  local s = common.settings("agentforce.connect", opts, settings)
  if not start_field[s.api] then
    errors.argerror(1, "agentforce.connect", ("api must be 'ai-evaluations' or 'ai-testing', got '%s'")
      :format(tostring(s.api)))
  end
  s.api_version = tostring(s.api_version):gsub("^v", "")
  s.auth = auth.client_credentials {
    token_url = s.base_url .. "/services/oauth2/token",
    client_id = s.client_id,
    client_secret = s.client_secret,
  }
  s.client_secret = nil
  return common.new_client(Client, s)
end

-- Salesforce errors are a list: [{"errorCode": "...", "message": "..."}].
function Client.vendor_error(body)
  if type(body) ~= "table" then return nil, nil end
  local first = body[1]
  if type(first) == "table" then return first.errorCode, first.message end
  return body.error or body.errorCode, body.error_description or body.message
end

-- The API sits on the instance URL from the token response (fetched on first use); its
-- root is built once per instance URL, not on every poll. `api` names another generation's
-- resources (conversation tests live under ai-testing). Once a token came, its instance is
-- read without asking for the token again: the request checks its token itself (and a
-- token fetched then updates the instance for the requests after it).
function Client:url(path, api)
  local instance = self.auth.instance or self.auth:instance_url()
  if instance ~= self.api_instance then
    self.api_base = ("%s/services/data/v%s/einstein/"):format(instance:gsub("/+$", ""), self.api_version)
    self.api_root = self.api_base .. self.api
    self.api_instance = instance
  end
  if api and api ~= self.api then return self.api_base .. api .. path end
  return self.api_root .. path
end

-- The org refuses a start while it already runs its maximum of tests (10 IN_PROGRESS).
-- Such a refusal proves no run was created, so starting again later is safe. (Not to be
-- confused with REQUEST_LIMIT_EXCEEDED, the org's API quota: waiting minutes won't help.)
local function org_queue_full(err)
  if not errors.is(err) or not err.status or err.vendor_code == "REQUEST_LIMIT_EXCEEDED" then
    return false
  end
  if err.vendor_code == "LIMIT_EXCEEDED" then return true end
  local text = tostring(err.vendor_message or ""):lower()
  for _, phrase in ipairs { "at the same time", "in progress", "in_progress", "concurrent" } do
    if text:find(phrase, 1, true) then return true end
  end
  return false
end

-- An unknown definition comes back as INTERNAL_SERVER_ERROR "Invalid AiEvalDefinitionVersion
-- identifier" (or a 404): say what the user got wrong.
local function unknown_definition(err)
  if not errors.is(err) then return false end
  local text = tostring(err.vendor_message or "")
  return err.status == 404 or text:find("Invalid AiEvalDefinitionVersion identifier", 1, true) ~= nil
end

-- One start attempt: the response body, or false when the org's queue is full (then
-- `run_queued` tells listeners, e.g. the progress line, why the start waits).
local function try_start(self, definition, token)
  local ok, res = pcall(self.call, self, "POST", "/runs", {
    json = { [start_field[self.api]] = definition },
    retry = { idempotent = false }, -- a start that may have reached Salesforce is never repeated
    expect = { "runId" },
  })
  if ok then return res end
  if org_queue_full(res) then
    common.trace("agentforce: org is running its maximum of tests; %s waits for a slot (%s)",
      definition, tostring(res.vendor_message))
    hooks.emit("run_queued", { provider = "agentforce", target = definition, token = token,
                               reason = "org limit of 10 runs in progress" })
    return false, res
  end
  if unknown_definition(res) then -- a typo, not an outage: a configuration error (exit 2)
    res.kind, res.retryable = "config", false
    res.message = ("no test definition named %s (Salesforce: %s)")
      :format(definition, tostring(res.vendor_message or res.message))
  end
  error(res, 0)
end

-- Start a run of the test definition `definition`; returns a Run.
function Client:start(definition)
  common.check_id(definition, 1, "start", "test definition name")
  local token, body = self:tracked_start(definition, function(start_token)
    return try_start(self, definition, start_token)
      or poll.wait(function() return try_start(self, definition, start_token) end, {
        interval = self.queue_interval, timeout = self.queue_timeout,
        what = "a free test slot to start " .. definition,
      })
  end)
  local run = self:new_run {
    start_token = token,
    id = body.runId,
    status = normalize(body.status),
    raw_status = body.status,
    api = self.api, api_version = self.api_version, definition = definition,
    raw = body,
  }
  return self:started(run)
end

local function trace_unknown(run, raw, where)
  local _, known = normalize(raw)
  if raw ~= nil and not known then
    common.trace("agentforce run %s: unknown %s status %q, treating it as still running",
      tostring(run.id), where, tostring(raw))
  end
end

local function fetch_results_doc(self, run)
  local doc = self:call("GET", "/runs/" .. run.id .. "/results")
  trace_unknown(run, doc.status, "results")
  return doc
end

-- One poll. While the status document says the run is going on, that small document is
-- all a poll reads: the results document (megabytes on a large suite) is fetched once the
-- status is terminal -- and decides completion, since status may say COMPLETED while
-- results are still IN_PROGRESS. A terminal status document is final, so later polls read
-- only the results. Partial results of a running run: run:results().
-- A waiting run stays lean: a status document that says what the last one said (status
-- and start time) is not mapped again, and nothing of it is kept.
function Client:poll_run(run)
  local st = common.state(run)
  local doc = st.status_doc
  if not doc then
    doc = self:call("GET", "/runs/" .. run.id)
    trace_unknown(run, doc.status, "run")
    local status = normalize(doc.status)
    if not model.terminal(status) then
      if st.mapped and doc.status == run.raw_status and doc.startTime == run.started_at then return end
      st.mapped = true
      local parsed = model.from.agentforce(doc, { id = run.id })
      parsed.cases = nil -- a status document carries no cases: keep what results() read
      common.apply(run, parsed)
      return
    end
    st.status_doc = doc
  end
  local status = normalize(doc.status)
  local parsed = model.from.agentforce(fetch_results_doc(self, run), { id = run.id })
  -- A run that ended in ERROR or TERMINATED will not finish its results document.
  if (status == "error" or status == "cancelled") and not model.terminal(parsed.status) then
    parsed.status, parsed.raw_status = status, doc.status
    parsed.error = parsed.error or doc.errorMessage
  end
  common.apply(run, parsed)
end

-- The results of a finished run were read by its last poll; otherwise fetch them now.
function Client:fetch_results(run)
  if model.terminal(run.status) and type(run.raw) == "table" and run.raw.testCases then return end
  local parsed = model.from.agentforce(fetch_results_doc(self, run), { id = run.id })
  if model.terminal(run.status) and not model.terminal(parsed.status) then
    parsed.status, parsed.raw_status = nil, nil -- keep the terminal status the poll saw
  end
  common.apply(run, parsed)
end

-- Conversation-level tests (providers/agentforce/conversation.lua).
Client.start_conversation, Client.converse = conversation.start, conversation.converse

local attach_run = Client.attach
function Client:attach(desc)
  if type(desc) == "table" and desc.kind == "conversation" then return conversation.attach(self, desc) end
  return attach_run(self, desc)
end

function Client:cancel_run(run)
  self:call("POST", "/runs/" .. run.id .. "/cancel", { retry = { idempotent = true }, optional = true })
end

return agentforce
