-- Future AGI "simulate" client: run tests (create, list, execute), executions, per-call
-- results with eval outputs, eval summaries and cancel. Bodies are snake_case, the only
-- casing current servers accept; every path ends with "/".
local auth = require "evalua.auth"
local common = require "evalua.providers.common"
local errors = require "evalua.errors"
local json = require "evalua.json"
local model = require "evalua.model"
local task = require "evalua.task"

local futureagi = {}

local settings = {
  { "base_url", env = { "FI_BASE_URL" }, default = "https://api.futureagi.com" },
  { "api_key", env = { "FI_API_KEY" }, required = true, secret = true },
  { "secret_key", env = { "FI_SECRET_KEY" }, required = true, secret = true },
}

-- An execution is the unit of a Run; its run test id is needed to poll and summarize it.
local Client = common.client_class("futureagi", {
  eval_summary = function(run)
    return common.state(run).client:eval_summary(run.run_test_id, run.id)
  end,
})
Client.descriptor_fields = { "run_test_id" }
Client.results_options = { transcripts = "boolean" }
futureagi.Client = Client

function futureagi.connect(opts)
  local s = common.settings("futureagi.connect", opts, settings)
  s.auth = auth.api_key { headers = { ["X-Api-Key"] = s.api_key, ["X-Secret-Key"] = s.secret_key } }
  s.api_key, s.secret_key = nil, nil
  return common.new_client(Client, s)
end

-- Flatten a DRF field-error table ({field = {"msg", ...}}) into "field: msg; ...".
local function field_errors(t)
  if type(t) ~= "table" then return nil end
  local keys, parts = {}, {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    parts[#parts + 1] = k .. ": " .. (type(v) == "table" and table.concat(v, " ") or tostring(v))
  end
  return #parts > 0 and table.concat(parts, "; ") or nil
end

local function str(v)
  return type(v) == "string" and v ~= "" and v or nil
end

-- `{status:false, code, message, detail, error, result, details}`; a 429 nests
-- `{code, message}` in `result`; "Scenarios incomplete" nests `{error, detail}` there;
-- unknown fields answer a bare DRF table `{"scenarioIds": ["Unknown field."]}`.
function Client.vendor_error(body)
  if type(body) ~= "table" then return nil, nil end
  local result = type(body.result) == "table" and body.result or {}
  local code = str(body.code) or str(result.code) or str(body.type)
  local message = str(body.message) or str(body.detail) or str(body.error)
    or str(result.message) or str(result.error)
  if message and str(result.detail) and message == str(result.error) then
    message = message .. ": " .. result.detail
  end
  local details = field_errors(body.details)
  if details and not (message and message:find(details, 1, true)) then
    message = message and (message .. " (" .. details .. ")") or details
  end
  if body.status == nil and message == nil then message = field_errors(body) end
  return code, message
end

local function post(self, path, body)
  return self:call("POST", path, { json = body or {}, retry = { idempotent = false } })
end

-- DRF pages: {count, next, previous, results, total_pages, current_page}.
local function pages(self, path, query)
  return common.all_pages(function(page)
    local q = { page = page }
    for k, v in pairs(query or {}) do q[k] = v end
    local body = self:call("GET", path, { query = q })
    local more = (body.next ~= nil and body.next ~= json.null)
      or (tonumber(body.current_page) or page) < (tonumber(body.total_pages) or 0)
    return body.results or {}, more
  end)
end

-- camelCase keys (the older API's casing) become snake_case: the server refuses them.
local function snake(t)
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" then k = k:gsub("(%l)(%u)", "%1_%2"):lower() end
    out[k] = v
  end
  return out
end

local function path_id(fname, id)
  return common.check_id(id, 1, fname)
end

-- Create a run test: name, agent_definition_id, scenario_ids (required) and the optional
-- fields of the API. Returns the RunTest object.
function Client:create(spec)
  common.check_table(spec, 1, "create", "run test spec (table)")
  local body = snake(spec)
  if type(body.evaluations_config) == "table" then
    local configs = {}
    for i, c in ipairs(body.evaluations_config) do configs[i] = snake(c) end
    body.evaluations_config = configs
  end
  return post(self, "/simulate/run-tests/create/", body)
end

-- Every run test (all pages), newest first; opts.search filters by name.
function Client:list(opts)
  opts = common.check_options("list", opts, { search = "string", limit = "count" })
  return pages(self, "/simulate/run-tests/", opts)
end

function Client:get(id)
  return self:call("GET", "/simulate/run-tests/" .. path_id("get", id) .. "/")
end

function Client:update(id, fields)
  path_id("update", id)
  common.check_table(fields, 2, "update", "table of fields")
  return self:call("PATCH", "/simulate/run-tests/" .. id .. "/", { json = snake(fields) })
end

function Client:delete(id)
  return self:call("DELETE", "/simulate/run-tests/" .. path_id("delete", id) .. "/", { optional = true })
end

-- Every execution of a run test (all pages); opts.status filters.
function Client:executions(id, opts)
  path_id("executions", id)
  opts = common.check_options("executions", opts, { status = "string", limit = "count" }, 2)
  return pages(self, "/simulate/run-tests/" .. id .. "/executions/", opts)
end

-- The service's filter list: `{{column_id, filter_config = {filter_type, filter_op,
-- filter_value}}, ...}` as given, or a table of column = value pairs, each an `equals`
-- (text, or number for a number value). Anything else is the caller's error.
local function filter_list(filters, argn, fname)
  if filters[1] ~= nil then
    for i, f in ipairs(filters) do
      if type(f) ~= "table" or type(f.column_id) ~= "string" or type(f.filter_config) ~= "table" then
        errors.argerror(argn, fname, ("filters[%d] must be {column_id = ..., filter_config = {...}}"):format(i))
      end
    end
    return filters
  end
  local list, columns = {}, {}
  for column in pairs(filters) do
    if type(column) ~= "string" then errors.argerror(argn, fname, "filters: column names must be strings") end
    columns[#columns + 1] = column
  end
  table.sort(columns)
  for _, column in ipairs(columns) do
    local v = filters[column]
    list[#list + 1] = { column_id = column, filter_config = {
      filter_type = type(v) == "number" and "number" or "text", filter_op = "equals", filter_value = v } }
  end
  return list
end

-- One call with its transcript: the list view leaves `transcript` empty (it runs
-- without detail), the call's own resource carries it.
function Client:call_detail(call_id)
  return self:call("GET", "/simulate/call-executions/" .. path_id("call_detail", call_id) .. "/")
end

local DETAIL_CONCURRENCY = 8
local finished_call = { completed = true, failed = true, cancelled = true }

-- Fill in the transcripts the list left out, for finished calls only, at most
-- DETAIL_CONCURRENCY requests at once.
local function add_transcripts(self, calls)
  local todo = {}
  for _, c in ipairs(calls) do
    local t = model.value(c.transcript)
    local status = model.normalize("futureagi", c.status)
    if (t == nil or (type(t) == "table" and next(t) == nil)) and finished_call[status] and c.id then
      todo[#todo + 1] = c
    end
  end
  if #todo == 0 then return calls end
  local next_index = 0
  local function worker()
    while next_index < #todo do
      next_index = next_index + 1
      local c = todo[next_index]
      local detail = self:call_detail(c.id)
      c.transcript = detail.transcript
    end
  end
  local workers = {}
  for i = 1, math.min(DETAIL_CONCURRENCY, #todo) do workers[i] = worker end
  task.all(workers)
  return calls
end

-- Every call of an execution (all pages), with eval outputs. opts.filters: the service's
-- filter list, or {column = value}; opts.transcripts: also fetch each finished call's
-- transcript (the list has none).
function Client:calls(execution_id, opts)
  path_id("calls", execution_id)
  opts = common.check_options("calls", opts,
    { search = "string", filters = "table", limit = "count", transcripts = "boolean" }, 2)
  local query = { search = opts.search, limit = opts.limit or 100 }
  if opts.filters then query.filters = json.encode(filter_list(opts.filters, 2, "calls")) end
  local path = "/simulate/test-executions/" .. execution_id .. "/"
  local calls = pages(self, path, query)
  if opts.transcripts then add_transcripts(self, calls) end
  return calls
end

-- Aggregated eval results of an execution (the `result` list of the envelope).
function Client:eval_summary(id, execution_id)
  local body = self:call("GET", "/simulate/run-tests/" .. path_id("eval_summary", id)
    .. "/eval-summary/", { query = { execution_id = execution_id }, optional = true })
  return body and body.result
end

local function id_list(v, argn, fname, what)
  common.check_table(v, argn, fname, what)
  if #v == 0 then errors.argerror(argn, fname, what .. " must not be empty") end
  for i, x in ipairs(v) do
    if type(x) ~= "string" or x == "" then
      errors.argerror(argn, fname, ("%s[%d] must be an id string, got %s"):format(what, i, common.got(x)))
    end
  end
  return v
end

-- Eval summaries of several executions of a run test side by side:
-- {[execution_id] = summary list}.
function Client:compare(id, execution_ids)
  path_id("compare", id)
  id_list(execution_ids, 2, "compare", "execution ids")
  local body = self:call("GET", "/simulate/run-tests/" .. id .. "/eval-summary-comparison/",
    { query = { execution_ids = json.encode(execution_ids) } })
  return body.result
end

local rerun_types = { eval = "eval_only", eval_only = "eval_only", call_and_eval = "call_and_eval" }

-- Rerun finished executions: opts.type "eval_only" (default; "eval" for short) or
-- "call_and_eval"; opts.executions (ids) or opts.all = true. Returns the service's answer.
function Client:rerun(id, opts)
  path_id("rerun", id)
  opts = common.check_options("rerun", common.check_table(opts, 2, "rerun", "options table"),
    { type = "string", executions = "table", all = "boolean" }, 2)
  local kind = rerun_types[opts.type or "eval_only"]
  if not kind then errors.argerror(2, "rerun", "type must be 'eval_only' or 'call_and_eval'") end
  if not opts.all then id_list(opts.executions, 2, "rerun", "executions") end
  return post(self, "/simulate/run-tests/" .. id .. "/rerun-test-executions/",
    { rerun_type = kind, test_execution_ids = opts.executions, select_all = opts.all })
end

-- An execution's KPIs (calls, success, average score, latency, tokens) and performance
-- summary (pass rate over the run test's executions, best scenarios).
function Client:kpis(execution_id)
  return self:call("GET", "/simulate/test-executions/" .. path_id("kpis", execution_id) .. "/kpis/")
end

function Client:performance_summary(execution_id)
  return self:call("GET", "/simulate/test-executions/" .. path_id("performance_summary", execution_id)
    .. "/performance-summary/")
end

-- Eval configs of a run test: add a list of {template_id, name, config, mapping, ...},
-- update one (opts.run with opts.test_execution_id reruns it), delete one.
function Client:add_eval_configs(id, configs)
  path_id("add_eval_configs", id)
  common.check_table(configs, 2, "add_eval_configs", "list of eval configs")
  local list = {}
  for i, c in ipairs(configs) do list[i] = snake(common.check_table(c, 2, "add_eval_configs", "eval config")) end
  return post(self, "/simulate/run-tests/" .. id .. "/eval-configs/", { evaluations_config = list })
end

function Client:update_eval_config(id, config_id, fields)
  path_id("update_eval_config", id)
  common.check_id(config_id, 2, "update_eval_config", "eval config id")
  common.check_table(fields, 3, "update_eval_config", "table of fields")
  return post(self, "/simulate/run-tests/" .. id .. "/eval-configs/" .. config_id .. "/update/", snake(fields))
end

function Client:delete_eval_config(id, config_id)
  path_id("delete_eval_config", id)
  common.check_id(config_id, 2, "delete_eval_config", "eval config id")
  return self:call("DELETE", "/simulate/run-tests/" .. id .. "/eval-configs/" .. config_id .. "/",
    { optional = true })
end

-- Execute a run test (an id, or a create spec that is created first); returns a Run.
-- opts: scenario_ids (default: all scenarios), simulator_id.
function Client:start(target, opts)
  if type(target) ~= "table" then common.check_id(target, 1, "start", "run test id or create spec") end
  opts = common.check_options("start", opts, { scenario_ids = "table", simulator_id = "string" }, 2)
  local id = target
  if type(target) == "table" then id = self:create(target).id end
  local token, body = self:tracked_start(id, function()
    return self:call("POST", "/simulate/run-tests/" .. id .. "/execute/", {
      json = { scenario_ids = opts.scenario_ids, simulator_id = opts.simulator_id },
      retry = { idempotent = false }, expect = { "execution_id" },
    })
  end)
  local run = self:new_run {
    start_token = token,
    id = body.execution_id,
    run_test_id = body.run_test_id or id,
    status = model.normalize("futureagi", body.status),
    raw_status = body.status,
    raw = body,
  }
  return self:started(run)
end

local function status_fields(run, doc)
  local parsed = model.from.futureagi(doc, nil, { id = run.id, run_test_id = run.run_test_id })
  parsed.cases = nil -- a status document carries no calls: keep what results() read
  common.apply(run, parsed)
end

-- One poll. The status endpoint reports the run test's latest execution: when that is
-- not ours (another execution started since, or none visible yet), read ours directly.
function Client:poll_run(run)
  local doc = self:call("GET", "/simulate/run-tests/" .. run.run_test_id .. "/status/")
  if doc.execution_id == run.id then return status_fields(run, doc) end
  common.trace("futureagi: status endpoint reports execution %s, reading %s directly",
    tostring(doc.execution_id), run.id)
  local page = self:call("GET", "/simulate/test-executions/" .. run.id .. "/",
    { query = { page = 1, limit = 1 } })
  status_fields(run, { status = page.status, execution_id = run.id })
end

-- Per-call results, all pages, with each finished call's transcript (unless
-- opts.transcripts is false). Eval scores are final only once the execution has left
-- `evaluating`; earlier they come back partial (pending evals have no verdict).
function Client:fetch_results(run, opts)
  local calls = self:calls(run.id, { transcripts = opts.transcripts ~= false })
  local parsed = model.from.futureagi({}, calls, { id = run.id, run_test_id = run.run_test_id })
  run.cases = parsed.cases
end

function Client:cancel_run(run)
  self:call("POST", "/simulate/test-executions/" .. run.id .. "/cancel/",
    { retry = { idempotent = true }, optional = true })
end

return futureagi
