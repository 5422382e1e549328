-- What the four provider clients share: connect options with environment fallbacks, one
-- request helper that turns vendor error envelopes into structured errors, pagination,
-- and the live Run (poll, wait, results, cancel, to-be-closed, descriptor/attach, hooks).
-- A provider supplies URLs, bodies and mappers; the lifecycle rules live here once.
local cjson = require "cjson.safe"
local errors = require "evalua.errors"
local hooks = require "evalua.hooks"
local model = require "evalua.model"

local common = {}
local terminal = model.terminal

function common.trace(fmt, ...)
  if evalua and evalua.verbose then io.stderr:write("evalua: ", fmt:format(...), "\n") end
end

function common.warn(fmt, ...)
  io.stderr:write("evalua: warning: ", fmt:format(...), "\n")
end

local function set(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end
common.set = set

-- Reject unknown options, naming the first: a typo in `client_secret` must not silently
-- fall back to the environment. `level` (default 3) blames the caller of the public
-- function that called this one.
function common.check_options(fname, opts, known, level)
  level = level or 3
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname, type(opts)), level)
  end
  for k in pairs(opts) do
    if not known[k] then
      error(("bad argument #1 to '%s' (unknown option '%s')"):format(fname, tostring(k)), level)
    end
  end
  return opts
end

-- An option, else the first environment variable set among `names`; credentials go
-- through `secret` so that they are redacted wherever evalua prints.
local function from_env(names, is_secret)
  for _, name in ipairs(names or {}) do
    if env(name, false) then return is_secret and secret(name) or env(name) end
  end
  return nil
end

-- "https://x/" and "x" both become "https://x".
local function clean_url(url)
  if not url:match("^%a[%w+.-]*://") then url = "https://" .. url end
  return (url:gsub("/+$", ""))
end

-- Options every client takes besides its own settings.
local shared_options = { "timeout", "wait" }

-- Resolve a provider's `settings` spec ({name, env = {...}, default, required, secret})
-- from `opts` and the environment. A missing credential is a configuration error.
function common.settings(fname, opts, spec)
  local names = {}
  for _, s in ipairs(spec) do names[#names + 1] = s[1] end
  table.move(shared_options, 1, #shared_options, #names + 1, names)
  opts = common.check_options(fname, opts, set(names), 4)
  local out = { timeout = opts.timeout, wait = opts.wait }
  for _, s in ipairs(spec) do
    local v = opts[s[1]]
    if v == nil then v = from_env(s.env, s.secret) end
    if v == nil then v = s.default end
    if v == nil and s.required then
      local hint = s.env and (" or set " .. table.concat(s.env, " or ")) or ""
      errors.raise({ kind = "config",
        message = ("%s: %s is required (pass %s = ...%s)"):format(fname, s[1], s[1], hint) }, 3)
    end
    out[s[1]] = v
  end
  if out.base_url then out.base_url = clean_url(out.base_url) end
  return out
end

-- Gather every page: `fetch(page)` returns the page's items and whether more follow.
function common.all_pages(fetch)
  local all, page = {}, 1
  while true do
    local items, more = fetch(page)
    table.move(items, 1, #items, #all + 1, all)
    if not more or #items == 0 then return all end
    page = page + 1
  end
end

---------------------------------------------------------------------------------------
-- Clients

local Client = {}
Client.__index = Client

-- A client class for `provider`; `run_methods` are extra methods of its runs. The
-- provider adds `vendor_error(body) -> code, message` (its error envelope), poll_run,
-- fetch_results and, when the service can, cancel_run.
function common.client_class(provider, run_methods)
  local Run = setmetatable(run_methods or {}, { __index = common.Run })
  Run.__index, Run.__name = Run, "evalua.run"
  Run.__tostring, Run.__close = common.Run.__tostring, common.Run.__close
  local C = setmetatable({ provider = provider, Run = Run, descriptor_fields = {},
                           results_options = {} },
    { __index = Client })
  C.__index, C.__name, C.__tostring = C, "evalua." .. provider, Client.__tostring
  return C
end

function common.new_client(class, fields)
  return setmetatable(fields, class)
end

function Client:__tostring()
  return ("%s client (%s)"):format(self.provider, self.base_url)
end

-- Where `path` lives; Salesforce overrides this (its API sits on the instance URL).
function Client:url(path)
  return self.base_url .. path
end

local function vendor_failure(self, resp, method, url)
  local body = cjson.decode(resp.body or "")
  local code, message = self.vendor_error(body)
  if message == nil and body == nil and resp.body and resp.body:match("%S") then
    message = resp.body:sub(1, 200) -- not JSON (a proxy's HTML page): quote its start
  end
  local status = resp.status
  errors.raise({
    kind = (status == 401 or status == 403) and "auth" or "http",
    status = status, method = method, url = url,
    code = code, vendor_code = code, vendor_message = message,
    message = message and tostring(message) or ("HTTP %d from %s"):format(status, self.provider),
    retryable = status == 429 or status >= 500,
    retry_after = resp.headers and resp.headers["retry-after"],
    attempts = resp.attempts,
  })
end

-- One request: a non-2xx answer raises an `http` (or `auth`) error quoting the vendor's
-- envelope. Returns the decoded body (nil when empty) and the response.
-- opts: json, query, headers, retry.
function Client:call(method, path, opts)
  opts = opts or {}
  local url = self:url(path)
  local resp = http.request {
    method = method, url = url, auth = self.auth, timeout = self.timeout,
    json = opts.json, query = opts.query, headers = opts.headers, retry = opts.retry,
  }
  if resp.status < 200 or resp.status > 299 then vendor_failure(self, resp, method, url) end
  if resp.body == nil or not resp.body:match("%S") then return nil, resp end
  return resp:json(), resp
end

-- Per-run state kept off the run table, so a Run prints and encodes as plain data.
local state = setmetatable({}, { __mode = "k" })

function Client:new_run(fields)
  fields.provider = self.provider
  fields.cases = fields.cases or {}
  local run = setmetatable(fields, self.Run)
  state[run] = { client = self }
  return run
end

-- Whether a failed start may still have created a run: the request was sent and no
-- answer came back (a timeout, a dropped connection).
local function start_outcome_unknown(err)
  return errors.is(err) and err.status == nil and (err.kind == "timeout" or err.kind == "protocol")
end

local start_count = 0

-- Send a start request (`send(token)`) journalled as such: listeners hear `run_starting`
-- before it goes out, so a crash while the answer is on its way still leaves a trace
-- that a run may exist; `run_start_failed` when it certainly created nothing.
-- Returns the start's token (put it in the Run as start_token) and send's results.
function Client:tracked_start(target, send)
  start_count = start_count + 1
  local token = ("%s-%d-%d"):format(os.date("!%Y%m%dT%H%M%S"), math.random(0, 0x7fffffff), start_count)
  hooks.emit("run_starting", { provider = self.provider, target = tostring(target),
                               base_url = self.base_url, token = token })
  local r = table.pack(pcall(send, token))
  if not r[1] then
    if not start_outcome_unknown(r[2]) then hooks.emit("run_start_failed", token) end
    error(r[2], 0)
  end
  return token, table.unpack(r, 2, r.n)
end

-- Tell the listeners (journal, runner) about a run that now exists on the service.
function Client:started(run)
  common.trace("started %s run %s", self.provider, tostring(run.id))
  hooks.emit("run_started", run)
  common.observed(run, true)
  return run
end

-- Re-attach to a run from its descriptor (e.g. after a crash).
function Client:attach(desc)
  if type(desc) ~= "table" or desc.id == nil then
    error("bad argument #1 to 'attach' (run descriptor expected)", 2)
  end
  if desc.provider ~= self.provider then
    error(("bad argument #1 to 'attach' (a %s run cannot be attached by a %s client)")
      :format(tostring(desc.provider), self.provider), 2)
  end
  if desc.base_url and desc.base_url ~= self.base_url then
    error(("bad argument #1 to 'attach' (run %s belongs to %s, this client talks to %s)")
      :format(tostring(desc.id), desc.base_url, self.base_url), 2)
  end
  local fields = { id = desc.id, status = desc.status or "queued" }
  for _, k in ipairs(self.descriptor_fields) do fields[k] = desc[k] end
  return self:new_run(fields)
end

-- Copy what a mapper produced onto the live run; absent fields keep their value.
function common.apply(run, parsed)
  for k, v in pairs(parsed) do
    if k ~= "provider" then run[k] = v end
  end
  return run
end

-- Emit run_status after a poll (unless `quiet`) and run_finished the first time the
-- run is seen terminal.
function common.observed(run, quiet)
  local st = state[run]
  if not quiet then hooks.emit("run_status", run) end
  if terminal(run.status) and not st.finished then
    st.finished = true
    common.trace("%s run %s finished: %s", run.provider, tostring(run.id), run.status)
    hooks.emit("run_finished", run)
  end
end

-- A run's private state: its client, plus flags a provider keeps between polls.
function common.state(run)
  return state[run]
end

---------------------------------------------------------------------------------------
-- Live runs: the model's Run plus the calls that talk to the service.
-- A provider client implements poll_run(run), fetch_results(run, opts) and, when the
-- service can cancel, cancel_run(run).

local Run = setmetatable({}, { __index = model.Run })
Run.__index, Run.__name, Run.__tostring = Run, "evalua.run", model.Run.__tostring
common.Run = Run

-- One poll; returns the normalized status. A terminal status is final: no request.
function Run:poll()
  if terminal(self.status) then return self.status end
  state[self].client:poll_run(self)
  common.observed(self)
  return self.status
end

local wait_options = set { "timeout", "interval", "max_interval", "factor", "jitter" }

-- Poll with backoff until the run is terminal; returns the run. Raises a `timeout` error
-- (its `last` field is the run) when `timeout` passes first.
function Run:wait(opts)
  opts = common.check_options("wait", opts, wait_options)
  if terminal(self.status) then return self end
  local popts = { what = ("%s run %s"):format(self.provider, tostring(self.id)) }
  for k, v in pairs(state[self].client.wait or {}) do popts[k] = v end
  for k, v in pairs(opts) do popts[k] = v end
  poll.wait(function()
    if terminal(self:poll()) then return self end
    return false, self
  end, popts)
  return self
end

-- Fetch the per-case results (partial while the run is unfinished); returns the run.
-- Options are the provider's `results_options` (Kapso: pass_score).
function Run:results(opts)
  local client = state[self].client
  opts = common.check_options("results", opts, client.results_options)
  client:fetch_results(self, opts)
  common.observed(self, true)
  return self
end

-- Ask the service to stop the run; false when it had already finished.
function Run:cancel()
  local st = state[self]
  if not st.client.cancel_run then
    error(("%s runs cannot be cancelled: the service has no cancel call"):format(self.provider), 2)
  end
  if terminal(self.status) then return false end
  st.client:cancel_run(self)
  st.cancel_requested = true
  common.trace("cancel requested for %s run %s", self.provider, tostring(self.id))
  return true
end

-- `local run <close> = c:start(...)`: leaving the scope before the run finished cancels it.
-- A __close outside a task (no yield possible) hands the cancel to a new task.
function Run.__close(run)
  local st = state[run]
  if terminal(run.status) or st.cancel_requested or not st.client.cancel_run then return end
  local function cancel()
    local ok, err = pcall(run.cancel, run)
    if not ok then
      common.warn("could not cancel %s run %s: %s", run.provider, tostring(run.id), tostring(err))
    end
  end
  if coroutine.isyieldable() then cancel() else task.spawn(cancel) end
end

-- Plain, JSON-safe data to re-attach to this run later (no credentials).
function Run:descriptor()
  local client = state[self].client
  local d = { provider = self.provider, id = self.id, status = self.status,
              base_url = client.base_url }
  for _, k in ipairs(client.descriptor_fields) do d[k] = self[k] end
  return d
end

return common
