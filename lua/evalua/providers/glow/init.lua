-- Glow benchmark tests client (`POST /api/v5/artifacts/test/<op>`, JSON bodies; with
-- `api = "test"` the current API's `POST /test/<op>`, testapi.lua).
-- A Run is one replay: `next` hands out a test's next pending run, `run` replays it,
-- `get` shows its progress, and `end` grades it — with the service's AI grader
-- (`grade = true`) or with the script's own verdict (the custom grading hook).
local auth = require "evalua.auth"
local common = require "evalua.providers.common"
local errors = require "evalua.errors"
local model = require "evalua.model"
local task = require "evalua.task"
local testapi = require "evalua.providers.glow.testapi"

local glow = {}

local settings = {
  { "base_url", env = { "GLOW_BASE_URL" }, required = true },
  { "token", env = { "GLOW_TOKEN" }, secret = true },
  { "api_key", env = { "GLOW_API_KEY" }, secret = true },
  { "api", default = "v5" },
}

-- API generations: the seed's layout, and the current API's /test/* mount.
local layouts = {
  v5 = { prefix = "/api/v5/artifacts/test/", paths = {} },
  test = testapi,
}

local check_verdict -- (below)

local Client = common.client_class("glow", {
  -- Submit this replay's grade: {score, passed, feedback} or {grade = true}.
  grade = function(run, verdict)
    local st = common.live(run, "grade")
    check_verdict(verdict, 1, "grade", st.client.api)
    return st.client:grade(run, verdict)
  end,
})
Client.descriptor_fields = { "test_id", "invocation_id", "api" }
glow.Client = Client

-- A bearer token (what Glow's CLI sends) or an API key (`X-Api-Key`).
function glow.connect(opts)
  local s = common.settings("glow.connect", opts, settings)
  if not layouts[s.api] then
    local problem = ("api must be \"v5\" or \"test\", got %q"):format(s.api)
    if type(opts) == "table" and opts.api ~= nil then errors.argerror(1, "glow.connect", problem) end
    errors.raise({ kind = "config", message = "glow.connect: the configuration's glow.api: " .. problem }, 2)
  end
  if s.token then
    s.auth = auth.bearer(s.token)
  elseif s.api_key then
    s.auth = auth.api_key { header = "X-Api-Key", value = s.api_key }
  else
    errors.raise({ kind = "config", message = "glow.connect: token is required "
      .. "(pass token = ... or set GLOW_TOKEN, or api_key = ... or GLOW_API_KEY)" }, 2)
  end
  s.token, s.api_key = nil, nil
  return common.new_client(Client, s)
end

-- FastAPI errors: {"detail": "text"} or, on 422, {"detail": [{loc, msg, type}]}.
function Client.vendor_error(body)
  if type(body) ~= "table" then return nil, nil end
  local detail = body.detail
  if type(detail) ~= "table" then return nil, detail end
  local parts = {}
  for _, d in ipairs(detail) do
    local loc = type(d.loc) == "table" and table.concat(d.loc, ".") or nil
    parts[#parts + 1] = (loc and (loc .. ": ") or "") .. tostring(d.msg)
  end
  return detail[1] and detail[1].type, table.concat(parts, "; ")
end

-- Every operation is a POST to the client's API layout; `retry` is true for the ones that
-- may be sent again after a timeout (reads, keyed sends) or the http layer's retry table.
-- `call` adds Client:call options (expect, optional, headers).
function Client:post(name, body, retry, call)
  call = call or {}
  local layout = layouts[self.api]
  return self:call("POST", layout.prefix .. (layout.paths[name] or name), {
    json = body or {}, retry = type(retry) == "table" and retry or { idempotent = retry == true },
    headers = call.headers, expect = call.expect, optional = call.optional, raw = call.raw,
  })
end
local op = Client.post

local function id_arg(fname, id, n)
  return common.check_id(id, n or 1, fname)
end

-- Create a test of a benchmark; returns its test_id and Glow's whole answer. With
-- `eval = true` (api "test") the id is an eval's, sent as `eval_id` (the start of Glow's
-- API v1.0.50, glow-academic/cli).
function Client:create(benchmark_id, opts)
  id_arg("create", benchmark_id)
  opts = common.check_options("create", opts, { infinite_mode = "boolean", eval = "boolean" }, 2)
  if opts.eval and self.api ~= "test" then
    errors.argerror(2, "create", "eval = true needs glow.connect{api = \"test\"} (the v5 start takes a benchmark_id)")
  end
  local field = opts.eval and "eval_id" or "benchmark_id"
  local answer = op(self, "start", { [field] = benchmark_id, infinite_mode = opts.infinite_mode },
    false, { expect = { "test_id" } })
  return answer.test_id, answer
end

-- The test document. Always bypasses Glow's 300-second response cache: a cached answer
-- would hide progress from a poller.
function Client:get(test_id)
  return op(self, "get", { test_id = id_arg("get", test_id) }, true, { headers = { ["x-bypass-cache"] = "1" } })
end

-- The whole test as a model Run (one case per run, with grades).
function Client:results(test_id)
  id_arg("results", test_id)
  return model.from.glow(self:get(test_id), { test_id = test_id })
end

-- Tests matching `filters` (eval_ids, department_ids, is_archived, start_date, end_date,
-- eval_search, department_search). Without page_size/page_offset: every page, as a list;
-- with them: that one page's document.
function Client:search(filters)
  filters = filters == nil and {} or common.check_table(filters, 1, "search", "table of filters")
  if filters.page_size or filters.page_offset then return op(self, "search", filters, true) end
  local all = {}
  repeat
    local body = {}
    for k, v in pairs(filters) do body[k] = v end
    body.page_offset = #all
    local page = op(self, "search", body, true)
    local tests = type(page.tests) == "table" and page.tests or {}
    table.move(tests, 1, #tests, #all + 1, all)
  until #tests == 0 or #all >= (tonumber(page.total_count) or 0)
  return all
end

function Client:archive(test_ids, archived)
  common.check_table(test_ids, 1, "archive", "list of test ids")
  if archived ~= nil and type(archived) ~= "boolean" then
    errors.argerror(2, "archive", "true or false expected, got " .. common.got(archived))
  end
  return op(self, "archive", { test_ids = test_ids, archived = archived ~= false }).updated_count
end

function Client:export(test_id)
  return op(self, "export", { test_id = id_arg("export", test_id) })
end

function Client:stop(invocation_id)
  return op(self, "stop", { invocation_id = id_arg("stop", invocation_id) }, false, { optional = true })
end

-- A message's text by its id (`text/download`: the file's content).
function Client:text(text_id)
  return op(self, "text/download", { text_id = id_arg("text", text_id) }, true, { raw = true })
end

local TEXT_CONCURRENCY = 4

-- The replay's transcript: `get` lists its messages (`entries.messages`, role and text ids)
-- without their text, so each text is downloaded, at most TEXT_CONCURRENCY at once.
local function transcript(self, doc, run_id)
  local entries = model.value(doc.entries)
  local wanted = {}
  for _, m in ipairs(type(entries) == "table" and model.value(entries.messages) or {}) do
    if type(m) == "table" and m.run_id == run_id then
      for _, id in ipairs(model.value(m.text_ids) or {}) do
        wanted[#wanted + 1] = { role = model.value(m.role), id = id }
      end
    end
  end
  if #wanted == 0 then return nil end
  local texts, next_index = {}, 0
  local function worker()
    while next_index < #wanted do
      next_index = next_index + 1
      local i = next_index
      texts[i] = self:text(wanted[i].id)
    end
  end
  local workers = {}
  for i = 1, math.min(TEXT_CONCURRENCY, #wanted) do workers[i] = worker end
  task.all(workers)
  local out = {}
  for i, w in ipairs(wanted) do out[i] = { role = w.role, content = texts[i] } end
  return out
end

-- Any other operation (`refresh`, `docs`, ...) with its raw body.
function Client:op(name, body)
  id_arg("op", name)
  if body ~= nil then common.check_table(body, 2, "op", "table of fields") end
  return op(self, name, body, false, { optional = true })
end

-- `next` hands the same pending run to every caller until its replay starts, so tasks
-- sharing a client take turns at next+run on one test: one permit per test. A task
-- cancelled while it waits for its turn leaves at once; one cancelled during its turn
-- gives the permit back before the cancellation goes on.
local function one_at_a_time(self, key, fn)
  self.locks = self.locks or {}
  local turn = self.locks[key]
  if not turn then
    turn = task.semaphore(1)
    self.locks[key] = turn
  end
  turn:acquire()
  local r = table.pack(pcall(fn))
  turn:release()
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- A replay's view of a `get` answer (the test's whole document), and its application.
local function view(run, doc)
  return model.from.glow(doc, { run_id = run.id, id = run.id, test_id = run.test_id })
end

local function apply_view(run, doc, parsed)
  common.apply(run, parsed or view(run, doc))
  local st = common.state(run)
  st.graded, st.last_doc = false, doc
end

-- `get` answers for every replay of a test at once, so a client shares its answers among
-- the replays it polls: one `get` per test in flight (a poll that finds one on its way
-- waits for that answer instead of sending another), and the latest answer is kept, so
-- that a replay it already shows finished is not asked about again (poll_run).
-- Returns the document; each poller raises the get's error from its own line.
local function shared_get(self, test_id)
  self.gets, self.docs = self.gets or {}, self.docs or {}
  local flight = self.gets[test_id]
  if not flight then
    flight = task.detached(function()
      local ok, doc = pcall(self.get, self, test_id)
      self.gets[test_id] = nil
      if ok then self.docs[test_id] = doc end
      return ok, doc
    end)
    self.gets[test_id] = flight
  end
  local ok, doc = task.wait(flight)
  if ok then return doc end
  if type(doc) == "table" then
    local copy = {}
    for k, v in pairs(doc) do copy[k] = v end
    doc = setmetatable(copy, getmetatable(doc))
  end
  error(doc, 0)
end

-- v5: `next` hands out the test's next pending run and `run` replays it; returns the
-- fields of the new Run.
local function v5_replay(self, test_id)
  local ok, n = pcall(op, self, "next", { test_id = test_id }, false,
    { expect = { "run_id", "invocation_id" } })
  if not ok then
    if errors.is(n) then
      n.start_not_sent = true -- `next` only hands out a run
      n.no_pending = n.status ~= nil and tostring(n.vendor_message or ""):lower():find("no pending", 1, true) ~= nil
    end
    error(n, 0)
  end
  -- The seed's `next` only hands a run out and `run` replays it; Glow's backend `next`
  -- already replays it (core/app/infra/test/next.py), and a `run` after it would replay
  -- it twice. The first start of a client looks at the test after `next` to learn which
  -- behaviour the service has (a deployment does not switch); when that look fails, the
  -- seed's documented flow goes on and the next start looks again.
  if self.next_replays == nil then
    local seen, fresh = pcall(self.get, self, test_id)
    if not seen and errors.is(fresh, "cancelled") then error(fresh, 0) end
    if seen then
      self.next_replays = require("evalua.providers.glow.mapper").replays(fresh, n.run_id) > 0
    else
      common.warn("glow: could not check whether next replayed run %s (%s); calling run",
        tostring(n.run_id), tostring(fresh))
    end
  end
  if self.next_replays then
    common.trace("glow: next already replayed run %s; no run call", tostring(n.run_id))
  else
    op(self, "run", { test_id = test_id, test_invocation_id = n.invocation_id, run_id = n.run_id },
      false, { optional = true })
  end
  return { id = n.run_id, invocation_id = n.invocation_id, current_run = n.current_run,
           total_runs = n.total_runs, raw = n }
end

local replay = { v5 = v5_replay, test = testapi.start_replay }

-- The next pending run of a test, replayed; returns a Run.
function Client:start(test_id)
  id_arg("start", test_id)
  local token, fields = self:tracked_start(test_id, function()
    return one_at_a_time(self, test_id, function() return replay[self.api](self, test_id) end)
  end)
  fields.start_token, fields.test_id, fields.status, fields.api = token, test_id, "queued", self.api
  return self:started(self:new_run(fields))
end

-- A Run from `run:descriptor()` data. A run started through the other API generation (its
-- descriptor says which; `evalua resume` connects with the configured one) is followed
-- through a sibling of this client speaking that generation, with the same credentials.
function Client:attach(desc)
  local api = type(desc) == "table" and desc.api
  if api and api ~= self.api then
    if not layouts[api] then
      errors.argerror(1, "attach", ("descriptor api must be \"v5\" or \"test\", got %s"):format(common.got(api)))
    end
    local sibling = { api = api }
    for k, v in pairs(self) do if sibling[k] == nil then sibling[k] = v end end
    return getmetatable(Client).__index.attach(setmetatable(sibling, Client), desc)
  end
  return getmetatable(Client).__index.attach(self, desc)
end

-- One poll: the latest `get` answer this client holds for the test when it already shows
-- the replay finished (another replay's poll read it), else a new (shared) one.
function Client:poll_run(run)
  local doc = self.docs and self.docs[run.test_id]
  local parsed = doc and view(run, doc)
  if not (parsed and model.terminal(parsed.status)) then doc, parsed = shared_get(self, run.test_id), nil end
  apply_view(run, doc, parsed)
end

-- A finished replay changes only when it is graded: read it again after `end`, not before.
-- Its transcript is downloaded once, when it has finished (or every time while it runs).
function Client:fetch_results(run)
  local st = common.state(run)
  local doc = st.last_doc
  if not (model.terminal(run.status) and st.graded == false and doc) then
    doc = shared_get(self, run.test_id)
    apply_view(run, doc)
  end
  local case = run.cases[1]
  if case and (st.transcript == nil or not model.terminal(run.status)) then
    st.transcript = transcript(self, doc, run.id) or false
  end
  if case and st.transcript then
    case.outputs.transcript = st.transcript
    case.outputs.response = model.last_reply(st.transcript)
  end
end

function Client:cancel_run(run)
  self:stop(run.invocation_id)
end

local verdict_types = { score = "number", passed = "boolean", feedback = "string", grade = "boolean" }

-- What is wrong with a verdict for a client of `api`, or nil.
local function verdict_problem(v, api)
  if type(v) ~= "table" then
    return ("verdict table expected ({score, passed, feedback} or {grade = true}), got %s")
      :format(common.got(v))
  end
  for k, val in pairs(v) do
    if verdict_types[k] == nil then return ("unknown verdict field '%s'"):format(tostring(k)) end
    if type(val) ~= verdict_types[k] then
      return ("verdict field '%s' must be a %s, got %s"):format(k, verdict_types[k], common.got(val))
    end
  end
  if not v.grade and v.score == nil and v.passed == nil then
    return "a verdict needs score, passed, or grade = true"
  end
  if api == "test" then return testapi.verdict_problem(v) end
end

function check_verdict(v, argn, fname, api)
  local problem = verdict_problem(v, api)
  if problem then errors.argerror(argn, fname, problem) end
end

-- Sending a grade, per API: v5 `end` takes the verdict as it is; `test` (testapi.grade)
-- sends whole rubric points under an idempotency key. Each returns the service's answer.
local send_grade = {
  v5 = function(self, target, run_id, verdict)
    return op(self, "end", {
      test_id = target.test_id, test_invocation_id = target.invocation_id, run_id = run_id,
      grade = verdict.grade, score = verdict.score, passed = verdict.passed, feedback = verdict.feedback,
    }, false, { optional = true })
  end,
  test = function(self, target, run_id, verdict)
    return testapi.grade(self, target.invocation_id, run_id, verdict)
  end,
}

-- Grade a replay: the script's {score, passed, feedback}, or {grade = true} to let the
-- service grade. `target` is a Run or {test_id, invocation_id, run_id}. A Run's `grade`
-- metric is the service's answer (what it recorded), set only once it has answered.
function Client:grade(target, verdict)
  if type(target) ~= "table" or (target.run_id or target.id) == nil then
    errors.argerror(1, "grade", "run or {test_id, invocation_id, run_id} expected, got " .. common.got(target))
  end
  check_verdict(verdict, 2, "grade", self.api)
  local res = send_grade[self.api](self, target, target.run_id or target.id, verdict)
  local case = getmetatable(target) == Client.Run and target.cases[1]
  if getmetatable(target) == Client.Run then common.state(target).graded = true end
  if case and type(res) == "table" then
    case.metrics = { model.metric { name = "grade", score = model.value(res.score),
      passed = model.value(res.passed), reason = model.value(res.feedback) or verdict.feedback,
      status = "completed" } }
  end
  return res
end

-- The next pending run replayed, or nil when the test has none left.
local function start_next(self, test_id)
  local ok, res = pcall(self.start, self, test_id)
  if ok then return res end
  if errors.is(res) and res.no_pending then return nil end
  error(res, 0)
end

-- The custom grading loop: for each pending run of `test_id`, replay it, wait for it, ask
-- `grader(run, case)` for a verdict and submit it. opts: limit (runs), concurrency
-- (replays at once, default 1), wait (run:wait options), grade (true: the service grades,
-- no grader needed). Returns the graded runs.
function Client:grade_pending(test_id, grader, opts)
  id_arg("grade_pending", test_id)
  opts = common.check_options("grade_pending", opts,
    { limit = "count", concurrency = "concurrency", wait = "wait", grade = "boolean" }, 3)
  if not opts.grade and type(grader) ~= "function" then
    errors.argerror(2, "grade_pending", "grader function expected, got " .. common.got(grader))
  end
  if opts.grade and self.api == "test" then
    errors.argerror(3, "grade_pending", "grade = true needs api \"v5\": the /test API grades only given scores")
  end
  local graded, seen, taken, stopped = {}, {}, 0, false
  local function grade_next()
    taken = taken + 1
    local run <close> = start_next(self, test_id) -- a replay not waited for is stopped
    if not run then return false end
    -- `next` keeps handing out a run until it is ended: never loop on one forever.
    if seen[run.id] then error(("glow: run %s was handed out twice"):format(run.id), 0) end
    seen[run.id] = true
    run:wait(opts.wait)
    run:results() -- the replay's transcript, for the grader
    local verdict = { grade = true }
    if not opts.grade then
      verdict = grader(run, run.cases[1])
      local problem = verdict_problem(verdict, self.api)
      if problem then -- the grader's mistake: name the grader, not this loop
        local def = debug.getinfo(grader, "S")
        error(("%s:%d: the grader returned a malformed verdict for run %s: %s")
          :format(def.short_src, def.linedefined, tostring(run.id), problem), 0)
      end
    end
    self:grade(run, verdict)
    graded[#graded + 1] = run
    return true
  end
  -- One worker's error (a grader bug, a timeout) stops the others at their next run.
  local function worker()
    while not stopped and (not opts.limit or taken < opts.limit) do
      local ok, more = pcall(grade_next)
      if not ok then
        stopped = true
        error(more, 0)
      end
      if not more then return end
    end
  end
  local workers = {}
  for i = 1, math.min(opts.concurrency or 1, opts.limit or common.MAX_CONCURRENCY) do workers[i] = worker end
  task.all(workers)
  return graded
end

-- glow.grade_pending(client, test_id, grader, opts): the same, as a function.
function glow.grade_pending(client, ...)
  return client:grade_pending(...)
end

return glow
