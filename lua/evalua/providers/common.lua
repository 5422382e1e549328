-- What the four provider clients share: connect options with environment fallbacks, one
-- request helper that turns vendor error envelopes into structured errors, pagination,
-- and the live Run (poll, wait, results, cancel, to-be-closed, descriptor/attach, hooks).
-- A provider supplies URLs, bodies and mappers; the lifecycle rules live here once.
local cjson = require "cjson.safe"
local check = require "evalua.check"
local errors = require "evalua.errors"
local hooks = require "evalua.hooks"
local http = require "evalua.http"
local model = require "evalua.model"
local poll = require "evalua.poll"
local redact = require "evalua.redact"
local task = require "evalua.task"

local common = {}
local terminal = model.terminal
local argerror = errors.argerror

-- Verbose tracing follows the host's `evalua.verbose` (-v), read from the module table
-- (never a global a script may have replaced).
function common.trace(fmt, ...)
  local host = package.loaded["evalua"]
  if type(host) == "table" and host.verbose then io.stderr:write("evalua: ", fmt:format(...), "\n") end
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

-- Text quoted in a one-line message: tags stripped, whitespace collapsed, at most `max`
-- bytes (cut on a character boundary). A proxy's HTML page becomes its words.
function common.snippet(text, max)
  max = max or 200
  text = tostring(text)
  text = text:gsub("<!%-%-.-%-%->", " "):gsub("<[sS][cCtT][rRyY][iIlL][pPeE].->.-</[sS][cCtT][rRyY][iIlL][pPeE]%s*>", " ")
  text = model.unescape(text:gsub("<[^>]*>", " "))
  text = text:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if #text <= max then return text end
  local cut = max
  while cut > 0 and (text:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
  return text:sub(1, cut) .. "..."
end

-- What a value is, for a message (never the value of a string: it may be a credential).
local function got(v)
  if v == nil then return "no value" end
  if type(v) == "string" then return v == "" and "an empty string" or "a string" end
  return type(v)
end
common.got = got

---------------------------------------------------------------------------------------
-- Argument and option checks: each names the user's function, argument and line.

-- A base URL: "x" and "https://x/" become "https://x"; nil and why when it is not an
-- http(s) URL with a host.
local function base_url(url)
  if type(url) ~= "string" or url == "" then return nil, "a URL string expected, got " .. got(url) end
  local cleaned = url
  if not cleaned:match("^%a[%w+.-]*://") then cleaned = "https://" .. cleaned end
  cleaned = cleaned:gsub("/+$", "")
  local scheme, host = cleaned:match("^(%a[%w+.-]*)://([^/?#]*)")
  local hostname = host and host:gsub("^[^@]*@", ""):gsub(":%d+$", "")
  local ok = scheme and (scheme:lower() == "http" or scheme:lower() == "https")
    and not cleaned:find("%s")
    and (hostname:match("^[%w][%w._-]*$") or hostname:match("^%[[%x:.]+%]$"))
  if not ok then
    return nil, ("malformed URL %q (expected http(s)://host/...)"):format(redact.redact_url(url))
  end
  return cleaned
end

-- Option kinds: a checker(v, argn, fname, what) per kind; `true` accepts anything.
local kinds
local MAX_COUNT = 2 ^ 53               -- counts are exact integers (no inf, no 1e300)
local MAX_CONCURRENCY = 1000
common.MAX_CONCURRENCY = MAX_CONCURRENCY
local wait_kinds = { timeout = "duration", interval = "duration", max_interval = "duration",
                     factor = "factor", jitter = "fraction" }
common.wait_kinds = wait_kinds

-- Check a table of options against `known` ({name = kind}); `prefix` names a nested table.
local function check_table(opts, known, argn, fname, prefix)
  if type(opts) ~= "table" then
    argerror(argn, fname, (prefix and (prefix .. ": ") or "") .. "table expected, got " .. got(opts))
  end
  for k, v in pairs(opts) do
    local name = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    local kind = known[k]
    if not kind then argerror(argn, fname, ("unknown option '%s'"):format(name)) end
    if kinds[kind] then kinds[kind](v, argn, fname, name) end
  end
  return opts
end

kinds = {
  string = function(v, n, f, what)
    if type(v) ~= "string" or v == "" then
      argerror(n, f, ("%s must be a non-empty string, got %s"):format(what, got(v)))
    end
  end,
  version = function(v, n, f, what)
    if type(v) ~= "number" and (type(v) ~= "string" or v == "") then
      argerror(n, f, ("%s must be a version string like \"63.0\", got %s"):format(what, got(v)))
    end
  end,
  url = function(v, n, f, what)
    local ok, why = base_url(v)
    if not ok then argerror(n, f, what .. ": " .. why) end
  end,
  number = function(v, n, f, what) check.number(v, n, f, what) end,
  factor = function(v, n, f, what) check.number(v, n, f, what, 1) end,
  fraction = function(v, n, f, what) check.number(v, n, f, what, 0, 1) end,
  count = function(v, n, f, what)
    check.count(v, n, f, what)
    if v > MAX_COUNT then argerror(n, f, ("%s must be at most %d, got %.15g"):format(what, MAX_COUNT, v)) end
  end,
  -- Tasks or requests at once: each costs memory and a connection, so a count is capped.
  concurrency = function(v, n, f, what)
    check.count(v, n, f, what)
    if v > MAX_CONCURRENCY then
      argerror(n, f, ("%s must be at most %d, got %.15g"):format(what, MAX_CONCURRENCY, v))
    end
  end,
  duration = function(v, n, f, what) check.duration(v, n, f, what) end,
  boolean = function(v, n, f, what)
    if type(v) ~= "boolean" then argerror(n, f, ("%s must be true or false, got %s"):format(what, got(v))) end
  end,
  table = function(v, n, f, what)
    if type(v) ~= "table" then argerror(n, f, ("%s must be a table, got %s"):format(what, got(v))) end
  end,
  wait = function(v, n, f, what) check_table(v, wait_kinds, n, f, what) end,
}

-- Options of a public function, argument `argn` (default 1) of `fname`: nil is `{}`, an
-- unknown option is an error naming it (a typo in `client_secret` must not silently fall
-- back to the environment), a value of the wrong kind an error naming the option.
-- `known` maps each option to its kind ("string", "duration", "count", ...) or true.
function common.check_options(fname, opts, known, argn)
  if opts == nil then return {} end
  return check_table(opts, known, argn or 1, fname)
end

-- A non-empty string argument (an id, a name).
function common.check_id(v, argn, fname, what)
  if type(v) ~= "string" or v == "" then
    argerror(argn, fname, ("%s expected, got %s"):format(what or "id string", got(v)))
  end
  return v
end

-- A table argument (fields, filters).
function common.check_table(v, argn, fname, what)
  if type(v) ~= "table" then
    argerror(argn, fname, ("%s expected, got %s"):format(what or "table", got(v)))
  end
  return v
end

-- A configuration error (exit 2) at the user's line.
local function config_error(message)
  errors.raise({ kind = "config", message = message, where = errors.where():gsub(":%s*$", "") }, 3)
end

-- An option, else the first environment variable set among `names` (and that name);
-- credentials are registered for redaction, as `secret()` does, wherever evalua prints.
local function from_env(names, is_secret)
  for _, name in ipairs(names or {}) do
    local v = require("evalua.config").env(name) -- the environment, else --env-file
    if v ~= nil then
      if is_secret then redact.register(v) end
      return v, name
    end
  end
  return nil
end

-- Resolve a provider's `settings` spec ({name, env = {...}, default, required, secret,
-- kind}) from `opts` and the environment; `kind` (default "string") is checked as
-- check_options does, and `base_url` must be an http(s) URL with a host. A missing
-- credential, or a malformed URL from the environment, is a configuration error.
-- The active profile of evalua.config.lua (evalua.config) supplies what the caller did
-- not pass: its values stand in for options, its `env` names replace the variables.
local function with_profile(fname, opts, spec)
  local profile = require("evalua.config").get(fname:match("^[^.]+"))
  if next(profile) == nil or (opts ~= nil and type(opts) ~= "table") then return opts, spec end
  local merged, vars = {}, profile.env or {}
  profile.env = nil
  for k, v in pairs(profile) do merged[k] = v end
  for k, v in pairs(opts or {}) do merged[k] = v end
  local respec = {}
  for i, s in ipairs(spec) do
    respec[i] = setmetatable({ env = vars[s[1]] and { vars[s[1]] } or s.env }, { __index = s })
  end
  return merged, respec
end

function common.settings(fname, opts, spec)
  opts, spec = with_profile(fname, opts, spec)
  local known = { timeout = "duration", wait = "wait" }
  for _, s in ipairs(spec) do known[s[1]] = s.kind or (s[1] == "base_url" and "url") or "string" end
  opts = common.check_options(fname, opts, known)
  local out, source = { timeout = opts.timeout, wait = opts.wait }, {}
  for _, s in ipairs(spec) do
    local v = opts[s[1]]
    if v == nil then v, source[s[1]] = from_env(s.env, s.secret) end
    if v == nil then v = s.default end
    if v == nil and s.required then
      local hint = s.env and (" or set " .. table.concat(s.env, " or ")) or ""
      config_error(("%s: %s is required (pass %s = ...%s)"):format(fname, s[1], s[1], hint))
    end
    out[s[1]] = v
  end
  if out.base_url then
    local url, why = base_url(out.base_url)
    if not url then -- an option was checked above: this came from the environment
      config_error(("%s: %s is not a usable base URL: %s"):format(fname,
        source.base_url or "base_url", why))
    end
    out.base_url = url
  end
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

-- What a refusal means: 401/403 the credentials (auth); 400/404/422 the request itself --
-- a named resource that does not exist, or a body the service rejects as invalid -- so the
-- user's configuration (config, exit 2: retrying will not help); anything else (5xx, 429,
-- an odd status) the service (http, exit 4).
local config_statuses = { [400] = true, [404] = true, [422] = true }

local function kind_of_status(status)
  if status == 401 or status == 403 then return "auth" end
  if config_statuses[status] then return "config" end
  return "http"
end
common.kind_of_status = kind_of_status

local function vendor_failure(self, resp, method, url)
  local body = cjson.decode(resp.body or "")
  local code, message = self.vendor_error(body)
  if message == nil and body == nil and resp.body and resp.body:match("%S") then
    message = common.snippet(resp.body) -- not JSON (a proxy's HTML page): its words, on one line
  end
  local status = resp.status
  errors.raise({
    kind = kind_of_status(status),
    status = status, method = method, url = url,
    code = code, vendor_code = code, vendor_message = message,
    message = message and tostring(message) or ("HTTP %d from %s"):format(status, self.provider),
    retryable = status == 429 or status >= 500,
    retry_after = resp.headers and resp.headers["retry-after"],
    attempts = resp.attempts,
  })
end

-- A 2xx answer evalua cannot use: a `protocol` error naming the request.
local function unusable(resp, method, url, message)
  errors.raise({ kind = "protocol", method = method, url = url, status = resp.status,
                 message = message, attempts = resp.attempts }, 3)
end

-- The value at a dotted `path` ("data.id") of a decoded body, JSON null as nil.
local function field(body, path)
  local v = body
  for key in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = model.value(v[key])
  end
  return v
end

-- One request: a non-2xx answer raises an `http` (or `auth`) error quoting the vendor's
-- envelope. Returns the decoded body and the response.
-- opts: json, query, headers, retry; `raw`: the answer is not JSON (its body is
-- returned as is); `optional`: the answer may be empty (nil is
-- returned) or any JSON value, else it must be a JSON object; `expect`: dotted paths of
-- fields the answer must carry ({"runId"}, {"data.id"}). An answer that breaks these
-- rules is a `protocol` error naming the URL and status.
local NO_OPTIONS = {}

function Client:call(method, path, opts)
  opts = opts or NO_OPTIONS
  local url = self:url(path)
  local resp = http.request {
    method = method, url = url, auth = self.auth, timeout = self.timeout,
    json = opts.json, query = opts.query, headers = opts.headers, retry = opts.retry,
  }
  if resp.status < 200 or resp.status > 299 then vendor_failure(self, resp, method, url) end
  if opts.raw then return resp.body or "", resp end
  -- Decoded straight from the received bytes (a poll's body never becomes a string); an
  -- empty body, which is no JSON either, is told apart only when decoding fails.
  local decoded, body = pcall(resp.json, resp)
  if not decoded then
    if resp.body == nil or not resp.body:match("%S") then
      if opts.optional then return nil, resp end
      unusable(resp, method, url, "empty response body where JSON was expected")
    end
    error(body, 0)
  end
  if opts.optional then return body, resp end
  if type(body) ~= "table" then
    unusable(resp, method, url, ("a JSON object was expected, got %s"):format(common.snippet(resp.body, 100)))
  end
  if opts.expect then
    for _, path_ in ipairs(opts.expect) do
      local v = field(body, path_)
      if v == nil or v == "" then
        unusable(resp, method, url, ("the answer has no %s: %s"):format(path_, common.snippet(resp.body, 200)))
      end
    end
  end
  return body, resp
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
-- answer came back (a timeout, a dropped connection), or a 2xx answer came back that
-- evalua cannot use (empty, not JSON, no run id). A provider marks `start_not_sent` an
-- error raised before its start request went out.
local function start_outcome_unknown(err)
  if not errors.is(err) or err.start_not_sent then return false end
  if err.kind == "timeout" then return err.status == nil end
  return err.kind == "protocol" and (err.status == nil or (err.status >= 200 and err.status <= 299))
end

local start_count = 0
local START_GATE, start_gate = 64, nil

-- Send a start request (`send(token)`) journalled as such: listeners hear `run_starting`
-- before it goes out, so a crash while the answer is on its way still leaves a trace
-- that a run may exist; `run_start_failed` when it certainly created nothing.
-- Returns the start's token (put it in the Run as start_token) and send's results.
local function tracked_start(self, target, send)
  start_count = start_count + 1
  local token = ("%s-%d-%d"):format(os.date("!%Y%m%dT%H%M%S"), math.random(0, 0x7fffffff), start_count)
  -- The journal's append waits for its group commit: a cancellation (or the deadline)
  -- ending that wait comes after the line is on disk and before anything was sent.
  local announced, err = pcall(hooks.emit, "run_starting", { provider = self.provider,
    target = tostring(target), base_url = self.base_url, token = token })
  if not announced then
    if errors.is(err, "cancelled") or errors.is(err, "timeout") then pcall(hooks.emit, "run_start_failed", token) end
    error(err, 0)
  end
  local r = table.pack(pcall(send, token))
  if not r[1] then
    if not start_outcome_unknown(r[2]) then hooks.emit("run_start_failed", token) end
    error(r[2], 0)
  end
  return token, table.unpack(r, 2, r.n)
end

-- One closer for every admitted start: leaving tracked_start, however, gives the permit back.
local gate_closer = setmetatable({}, { __close = function() start_gate:release() end })

-- At most START_GATE starts in flight: ten thousand queued at once would each hold a
-- request's copies (the measured peak of the scale run); the rest wait here, lean, on
-- their own shallow stacks. An admitted start runs on a spare stack (task._on_spare):
-- its deep frames (journal, request) do not stay with the task that then waits for the run.
function Client:tracked_start(target, send)
  start_gate = start_gate or task.semaphore(START_GATE)
  start_gate:acquire()
  local _ <close> = gate_closer
  return task._on_spare(tracked_start, self, target, send)
end

-- Tell the listeners (journal, runner) about a run that now exists on the service.
local function started(self, run)
  common.trace("started %s run %s", self.provider, tostring(run.id))
  hooks.emit("run_started", run)
  common.observed(run, true)
  return run
end

function Client:started(run)
  return task._on_spare(started, self, run)
end

-- Re-attach to a run from its descriptor (e.g. after a crash).
function Client:attach(desc)
  if type(desc) ~= "table" or desc.id == nil then
    argerror(1, "attach", "run descriptor expected, got " .. got(desc))
  end
  if desc.provider ~= self.provider then
    argerror(1, "attach", ("a %s run cannot be attached by a %s client")
      :format(tostring(desc.provider), self.provider))
  end
  if desc.base_url and desc.base_url ~= self.base_url then
    argerror(1, "attach", ("run %s belongs to %s, this client talks to %s")
      :format(tostring(desc.id), desc.base_url, self.base_url))
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

-- The run a method was called on: `run.wait()` (a '.' for a ':') is an error saying so.
local function live(run, fname)
  if state[run] == nil then
    argerror(1, fname, ("run expected, got %s (use run:%s(...), with a colon)"):format(got(run), fname))
  end
  return state[run]
end
common.live = live

-- One poll; returns the normalized status. A terminal status is final: no request.
function Run:poll()
  local st = live(self, "poll")
  if terminal(self.status) then return self.status end
  st.client:poll_run(self)
  common.observed(self)
  return self.status
end

-- Poll with backoff until the run is terminal; returns the run. Raises a `timeout` error
-- (its `last` field is the run) when `timeout` passes first.
function Run:wait(opts)
  local st = live(self, "wait")
  opts = common.check_options("wait", opts, wait_kinds)
  if terminal(self.status) then return self end
  local popts = { what = ("%s run %s"):format(self.provider, tostring(self.id)) }
  for k, v in pairs(st.client.wait or {}) do popts[k] = v end
  for k, v in pairs(opts) do popts[k] = v end
  -- Returns the run (the check's result): a tail call, so no frame of this is kept while waiting.
  return poll._wait_on_spare(function()
    if terminal(self:poll()) then return self end
    return false, self
  end, popts)
end

-- Fetch the per-case results (partial while the run is unfinished); returns the run.
-- Options are the provider's `results_options` (Kapso: pass_score).
function Run:results(opts)
  local client = live(self, "results").client
  opts = common.check_options("results", opts, client.results_options)
  client:fetch_results(self, opts)
  common.observed(self, true)
  return self
end

-- Ask the service to stop the run: true when it accepted, and the run is `cancelled` at
-- once; false when the run had already finished or was cancelled before. A refusal
-- because the run has meanwhile ended (Salesforce: 400 "already in a terminal state") is
-- that false too: the run is polled once to learn how it ended.
function Run:cancel()
  local st = live(self, "cancel")
  if not st.client.cancel_run then
    error(("%s%s runs cannot be cancelled: the service has no cancel call")
      :format(errors.where(), self.provider), 0)
  end
  if terminal(self.status) or st.cancel_requested then return false end
  local ok, err = pcall(st.client.cancel_run, st.client, self)
  if not ok then
    if not (errors.is(err, "config") and terminal(self:poll())) then error(err, 0) end
    common.trace("%s run %s had already ended (%s): nothing to cancel", self.provider,
      tostring(self.id), self.status)
    return false
  end
  st.cancel_requested = true
  self.status = "cancelled"
  hooks.emit("run_cancelled", self) -- the service confirmed: the journal marks it done
  common.trace("cancel requested for %s run %s", self.provider, tostring(self.id))
  common.observed(self)
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
  if coroutine.isyieldable() then cancel() else task.detached(cancel) end
end

-- Plain, JSON-safe data to re-attach to this run later (no credentials).
function Run:descriptor()
  local client = live(self, "descriptor").client
  local d = { provider = self.provider, id = self.id, status = self.status,
              base_url = client.base_url }
  for _, k in ipairs(client.descriptor_fields) do d[k] = self[k] end
  return d
end

return common
