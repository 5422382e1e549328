-- Kapso client (v1 API): test suites, test cases, test runs and agent test chats.
-- Bodies are wrapped both ways: requests as {"test_case": {...}}, answers as {"data": ...}.
-- Kapso scores a run but defines no pass mark: `passed` stays nil unless the script sets
-- `pass_score` (on connect, start or results).
local auth = require "evalua.auth"
local common = require "evalua.providers.common"
local errors = require "evalua.errors"
local model = require "evalua.model"
local poll = require "evalua.poll"

local kapso = {}

local settings = {
  { "base_url", env = { "KAPSO_BASE_URL" }, default = "https://app.kapso.ai/api/v1" },
  { "api_key", env = { "KAPSO_API_KEY" }, required = true, secret = true },
  { "pass_score", kind = "number" },
}

local Client = common.client_class("kapso")
Client.descriptor_fields = { "test_case_id", "pass_score" }
Client.results_options = { pass_score = "number" }
kapso.Client = Client

function kapso.connect(opts)
  local s = common.settings("kapso.connect", opts, settings)
  s.auth = auth.api_key { header = "X-API-Key", value = s.api_key }
  s.api_key = nil
  return common.new_client(Client, s)
end

-- {"error": "<short>", "status": <code>, "message": "<detail>"} (the OpenAPI Error schema).
function Client.vendor_error(body)
  if type(body) ~= "table" then return nil, nil end
  return body.error, body.message or body.error
end

local function data(body)
  return body and body.data
end

local function id_arg(fname, id)
  return common.check_id(id, 1, fname)
end

local function post(self, path, body)
  return data(self:call("POST", path, { json = body, retry = { idempotent = false } }))
end

-- Every test suite of an agent, each with its test cases (one answer: the list has no paging).
function Client:suites(agent_id)
  local path = "/agents/" .. id_arg("suites", agent_id) .. "/test_suites"
  return data(self:call("GET", path, { expect = { "data" } }))
end

-- One test suite with its test cases.
function Client:get_suite(id)
  return data(self:call("GET", "/test_suites/" .. id_arg("get_suite", id), { expect = { "data" } }))
end

function Client:create_suite(fields)
  common.check_table(fields, 1, "create_suite", "table of fields")
  return post(self, "/test_suites", { test_suite = fields })
end

function Client:create_case(suite_id, fields)
  id_arg("create_case", suite_id)
  common.check_table(fields, 2, "create_case", "table of fields")
  return post(self, "/test_suites/" .. suite_id .. "/test_cases", { test_case = fields })
end

function Client:get_case(id)
  return data(self:call("GET", "/test_cases/" .. id_arg("get_case", id)))
end

function Client:update_case(id, fields)
  id_arg("update_case", id)
  common.check_table(fields, 2, "update_case", "table of fields")
  return data(self:call("PATCH", "/test_cases/" .. id, { json = { test_case = fields } }))
end

-- Send a message to an agent (or an agent snapshot) in a test chat; `chat_id` continues
-- one. Returns the chat; `wait_chat` waits for the agent's answer.
function Client:chat(opts)
  opts = common.check_options("chat", common.check_table(opts, 1, "chat"),
    { agent_id = "string", snapshot_id = "string", message = "string", chat_id = "string" })
  if opts.message == nil then errors.argerror(1, "chat", "message expected") end
  local path = opts.snapshot_id and ("/agent_snapshots/" .. opts.snapshot_id .. "/test_chats")
    or ("/agents/" .. id_arg("chat", opts.agent_id) .. "/test_chats")
  return post(self, path, { message = opts.message, agent_test_chat_id = opts.chat_id })
end

-- Resume a completed test chat, optionally with a payload (a table: sent as
-- `{"message": {"type": "payload", "content": payload}}`); returns the chat (processing).
function Client:resume_chat(id, payload)
  id_arg("resume_chat", id)
  if payload ~= nil then common.check_table(payload, 2, "resume_chat", "payload table") end
  return post(self, "/test_chats/" .. id .. "/resume",
    payload and { message = { type = "payload", content = payload } } or {})
end

function Client:get_chat(id)
  return data(self:call("GET", "/test_chats/" .. id_arg("get_chat", id), { expect = { "data" } }))
end

-- Poll a test chat until it is no longer "processing"; returns the chat.
-- opts: as for run:wait.
function Client:wait_chat(id, opts)
  id_arg("wait_chat", id)
  opts = common.check_options("wait_chat", opts, common.wait_kinds, 2)
  local popts = { what = "kapso test chat " .. id }
  for k, v in pairs(self.wait or {}) do popts[k] = v end
  for k, v in pairs(opts) do popts[k] = v end
  return poll.wait(function()
    local chat = self:get_chat(id)
    if chat.status ~= "processing" then return chat end
    return false, chat
  end, popts)
end

-- Run a test case now; returns a Run. opts.pass_score: this run's pass mark.
function Client:start(test_case_id, opts)
  local path = "/test_cases/" .. id_arg("start", test_case_id) .. "/test_runs"
  opts = common.check_options("start", opts, { pass_score = "number" }, 2)
  local token, body = self:tracked_start(test_case_id, function()
    return self:call("POST", path, { json = { agent_test_run = {}, run_now = true },
                                     retry = { idempotent = false }, expect = { "data.id" } })
  end)
  local doc = data(body)
  local pass_score = opts.pass_score or self.pass_score
  local run = self:new_run { pass_score = pass_score, start_token = token }
  common.apply(run, model.from.kapso(doc, { pass_score = pass_score }))
  run.test_case_id = run.test_case_id or test_case_id
  return self:started(run)
end

function Client:poll_run(run)
  local doc = data(self:call("GET", "/test_runs/" .. run.id, { expect = { "data" } }))
  common.apply(run, model.from.kapso(doc, { id = run.id, pass_score = run.pass_score }))
end

-- A finished run's document already holds everything: only re-map it, e.g. with a
-- different pass mark (`run:results{pass_score = 8}`).
function Client:fetch_results(run, opts)
  if opts.pass_score ~= nil then run.pass_score = opts.pass_score end
  if model.terminal(run.status) and run.raw then
    common.apply(run, model.from.kapso(run.raw, { id = run.id, pass_score = run.pass_score }))
  else
    self:poll_run(run)
  end
end

return kapso
