-- A fuzz of the public provider and model API: about 4,000 calls with wrong types and
-- values (every argument of every function with every wrong value of its kind, then
-- seeded random ones, wrong option values nested in tables). Each must raise
-- `bad argument #n to 'f' (...)` naming the function and the argument, at this file's
-- calling line -- never an internal Lua error (`common.lua:233: attempt to concatenate a
-- nil value`) and never a request: the clients point at a closed port, so a bad call that
-- got through to the network shows up as a connect error. Set FUZZ_SEED to replay a seed.
local t = require "tap"
local agentforce = require "evalua.agentforce"
local futureagi = require "evalua.futureagi"
local kapso = require "evalua.kapso"
local glow = require "evalua.glow"
local model = require "evalua.model"

local SEED = tonumber(os.getenv("FUZZ_SEED") or "") or 20261201
local RANDOM_CALLS = 2500
math.randomseed(SEED)

http.configure { retry = { attempts = 1 } }
local CLOSED = "http://127.0.0.1:9"   -- the discard port: nothing listens
local creds = {
  agentforce = { base_url = CLOSED, client_id = "id", client_secret = "secret" },
  futureagi = { base_url = CLOSED, api_key = "k", secret_key = "s" },
  kapso = { base_url = CLOSED, api_key = "k" },
  glow = { base_url = CLOSED, token = "t" },
}
local modules = { agentforce = agentforce, futureagi = futureagi, kapso = kapso, glow = glow }
local clients = {}
for name, m in pairs(modules) do clients[name] = m.connect(creds[name]) end
local runs = {
  agentforce = clients.agentforce:attach { provider = "agentforce", id = "4KB", status = "running",
                                           base_url = CLOSED, api = "ai-evaluations", api_version = "63.0" },
  futureagi = clients.futureagi:attach { provider = "futureagi", id = "e", status = "running",
                                         base_url = CLOSED, run_test_id = "rt" },
  kapso = clients.kapso:attach { provider = "kapso", id = "r", status = "running", base_url = CLOSED },
  glow = clients.glow:attach { provider = "glow", id = "r", status = "running", base_url = CLOSED,
                               test_id = "t", invocation_id = "i" },
}
local a_run = model.from.agentforce { status = "COMPLETED", testCases = { { testNumber = 1,
  status = "COMPLETED", testResults = { { name = "m", result = "PASS" } } } } }
local a_case = a_run.cases[1]

-- Wrong values, by the kind of value a position wants.
local nan, huge = 0 / 0, math.huge
local fn, co, ud = function() end, coroutine.create(function() end), io.stdout
local bad = {
  id = { false, true, 0, -1, 1.5, huge, nan, "", {}, fn, co, ud },
  id_or_spec = { false, true, 0, -1, 1.5, huge, nan, "", fn, co, ud }, -- a table is a create spec
  name = { false, true, {}, fn, co, ud },                       -- any string is a name
  key = { false, true, {}, fn, co, ud },                        -- a string or a position
  table = { false, true, 0, 1.5, "x", "", fn, co, ud },
  opts = { false, true, 0, "x", fn, co, ud, { no_such_option = 1 }, { [1] = "positional" } },
  opt_table = { false, true, 0, "x", fn, co, ud },              -- nil or any table
  ["function"] = { false, true, 0, "grader", {}, co, ud },
  verdict = { false, true, 0, "pass", {}, { score = "high" }, { passed = "yes" }, { feedback = 1 },
              { bogus = 1 }, { grade = "yes" } },
  target = { false, true, 0, "run", {}, fn },
  bool = { 0, 1, "true", "", {}, fn },
  self = { false, true, 0, "run", {}, fn },
}
local bad_option = {
  string = { "", 0, true, {}, fn },
  duration = { -1, "abc", "", true, {}, nan, fn },
  count = { 0, -1, 1.5, "3", true, {}, nan, huge, fn },
  concurrency = { 0, -1, 2.5, "3", true, nan, huge, 1e9, fn },
  number = { "5", true, {}, nan, fn },
  boolean = { "true", 1, {}, fn },
  table = { "x", 1, true, fn },
  version = { "", true, {}, fn },
  url = { "ftp://host", "http://", "http:// spaces here", "", 42, true, {} },
  wait = { "x", 1, { bogus = 1 }, { timeout = "abc" }, { factor = 0.5 }, { jitter = 2 } },
}

-- Every public function: how to call it, what each argument wants, and its valid form.
-- { label, function, fname, { {kind, valid value[, options spec]} ... }, self }
local specs = {}
local function add(label, f, fname, args, self)
  specs[#specs + 1] = { label = label, f = f, fname = fname, args = args, self = self }
end
local conn_kinds = {
  agentforce = { base_url = "url", client_id = "string", client_secret = "string", api_version = "version",
                 api = "string", queue_timeout = "duration", queue_interval = "duration", timeout = "duration",
                 wait = "wait" },
  futureagi = { base_url = "url", api_key = "string", secret_key = "string", timeout = "duration", wait = "wait" },
  kapso = { base_url = "url", api_key = "string", pass_score = "number", timeout = "duration", wait = "wait" },
  glow = { base_url = "url", token = "string", api_key = "string", timeout = "duration", wait = "wait" },
}
for provider, m in pairs(modules) do
  add(provider .. ".connect", m.connect, provider .. ".connect",
    { { "opts", creds[provider], conn_kinds[provider], base = creds[provider] } })
  local c = clients[provider]
  add(provider .. ":attach", c.attach, "attach", { { "table", { provider = provider, id = "x" } } }, c)
  local run = runs[provider]
  add(provider .. " run:wait", run.wait, "wait", { { "opts", nil, { timeout = "duration",
    interval = "duration", max_interval = "duration", factor = "number", jitter = "number" } } }, run)
  for _, method in ipairs { "poll", "wait", "results", "cancel", "descriptor" } do
    add(provider .. " run." .. method, run[method], method, { { "self", run } })
  end
end
local sf, fi, ks, gl = clients.agentforce, clients.futureagi, clients.kapso, clients.glow
add("sf:start", sf.start, "start", { { "id", "Def" } }, sf)
add("fi:create", fi.create, "create", { { "table", {} } }, fi)
add("fi:list", fi.list, "list", { { "opts", nil, { search = "string", limit = "count" } } }, fi)
for _, m in ipairs { "get", "delete" } do add("fi:" .. m, fi[m], m, { { "id", "x" } }, fi) end
add("fi:update", fi.update, "update", { { "id", "x" }, { "table", {} } }, fi)
add("fi:executions", fi.executions, "executions", { { "id", "x" },
  { "opts", nil, { status = "string", limit = "count" } } }, fi)
add("fi:calls", fi.calls, "calls", { { "id", "x" }, { "opts", nil, { search = "string", limit = "count" } } }, fi)
add("fi:eval_summary", fi.eval_summary, "eval_summary", { { "id", "x" } }, fi)
add("fi:start", fi.start, "start", { { "id_or_spec", "x" },
  { "opts", nil, { scenario_ids = "table", simulator_id = "string" } } }, fi)
add("ks:suites", ks.suites, "suites", { { "id", "a" } }, ks)
add("ks:get_suite", ks.get_suite, "get_suite", { { "id", "s" } }, ks)
add("ks:resume_chat", ks.resume_chat, "resume_chat", { { "id", "c" }, { "opt_table", nil } }, ks)
add("fi:call_detail", fi.call_detail, "call_detail", { { "id", "c" } }, fi)
add("fi:compare", fi.compare, "compare", { { "id", "x" }, { "table", { "e" } } }, fi)
add("fi:rerun", fi.rerun, "rerun", { { "id", "x" }, { "opts", { executions = { "e" } },
  { type = "string", executions = "table", all = "boolean" }, base = { executions = { "e" } } } }, fi)
add("fi:kpis", fi.kpis, "kpis", { { "id", "e" } }, fi)
add("fi:performance_summary", fi.performance_summary, "performance_summary", { { "id", "e" } }, fi)
add("fi:add_eval_configs", fi.add_eval_configs, "add_eval_configs", { { "id", "x" }, { "table", {} } }, fi)
add("fi:update_eval_config", fi.update_eval_config, "update_eval_config",
  { { "id", "x" }, { "id", "c" }, { "table", {} } }, fi)
add("fi:delete_eval_config", fi.delete_eval_config, "delete_eval_config", { { "id", "x" }, { "id", "c" } }, fi)
add("ks:create_suite", ks.create_suite, "create_suite", { { "table", {} } }, ks)
add("ks:create_case", ks.create_case, "create_case", { { "id", "s" }, { "table", {} } }, ks)
for _, m in ipairs { "get_case", "get_chat" } do add("ks:" .. m, ks[m], m, { { "id", "x" } }, ks) end
add("ks:update_case", ks.update_case, "update_case", { { "id", "x" }, { "table", {} } }, ks)
add("ks:chat", ks.chat, "chat", { { "table", { agent_id = "a", message = "hi" } } }, ks)
add("ks:wait_chat", ks.wait_chat, "wait_chat", { { "id", "x" }, { "opts", nil, { timeout = "duration" } } }, ks)
add("ks:start", ks.start, "start", { { "id", "x" }, { "opts", nil, { pass_score = "number" } } }, ks)
add("kapso run:results", runs.kapso.results, "results", { { "opts", nil, { pass_score = "number" } } }, runs.kapso)
add("gl:create", gl.create, "create", { { "id", "b" }, { "opts", nil, { infinite_mode = "boolean" } } }, gl)
for _, m in ipairs { "get", "results", "export", "stop", "start", "op", "text" } do
  add("gl:" .. m, gl[m], m, { { "id", "x" } }, gl)
end
add("gl:op body", gl.op, "op", { { "id", "refresh" }, { "opt_table", {} } }, gl)
add("gl:search", gl.search, "search", { { "opt_table", nil } }, gl)
add("gl:archive", gl.archive, "archive", { { "table", { "t" } }, { "bool", true } }, gl)
add("gl:grade", gl.grade, "grade", { { "target", { test_id = "t", run_id = "r" } }, { "verdict", { score = 1 } } }, gl)
add("glow run:grade", runs.glow.grade, "grade", { { "verdict", { score = 1 } } }, runs.glow)
add("gl:grade_pending", gl.grade_pending, "grade_pending", { { "id", "t" }, { "function", fn },
  { "opts", nil, { limit = "count", concurrency = "concurrency", wait = "wait", grade = "boolean" } } }, gl)
for _, p in ipairs { "agentforce", "kapso", "glow" } do
  add("model.from." .. p, model.from[p], "from." .. p, { { "table", {} }, { "opt_table", nil } })
end
add("model.from.futureagi", model.from.futureagi, "from.futureagi",
  { { "opt_table", nil }, { "opt_table", nil }, { "opt_table", nil } })
for _, m in ipairs { "metric", "case", "run" } do add("model." .. m, model[m], m, { { "table", {} } }) end
add("case:metric", a_case.metric, "metric", { { "name", "m" } }, a_case)
add("run:case", a_run.case, "case", { { "key", "1" } }, a_run)
for _, m in ipairs { "metrics", "scores" } do add("run:" .. m, a_run[m], m, { { "name", "m" } }, a_run) end
add("run:pass_rate", a_run.pass_rate, "pass_rate", { { "name", "m" } }, a_run)

-- The line every fuzzed call is made from: errors must be blamed on it.
local CALL_LINE = debug.getinfo(1, "l").currentline + 2
local function attempt(f, args)
  return pcall(function() return f(table.unpack(args, 1, args.n)) end)
end

local calls, failures, shown = 0, 0, 0
local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. describe(x) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

-- One call of `spec` with argument `pos` replaced by `value`; the error must name the
-- function and the argument (`argn`), at CALL_LINE.
local function fuzz(spec, pos, value, argn)
  local args = { n = #spec.args }
  for i, a in ipairs(spec.args) do args[i] = a[2] end
  args[pos] = value
  if spec.self ~= nil and spec.args[pos][1] ~= "self" then
    table.insert(args, 1, spec.self)
    args.n = args.n + 1
  end
  calls = calls + 1
  local ok, err = attempt(spec.f, args)
  local want = ("^tests/lua/providers_fuzz_test%%.lua:%d: bad argument #%d to '%s' %%("):format(CALL_LINE, argn,
    spec.fname:gsub("%.", "%%."))
  if not ok and type(err) == "string" and err:find(want) then return end
  failures = failures + 1
  if shown < 60 then
    shown = shown + 1
    t.diag(("%s, argument %d = %s: %s"):format(spec.label, argn, describe(value),
      ok and "accepted" or tostring(err)))
  end
end

-- A copy of `base` (or {}) with option `key` set to `value`.
local function with(base, key, value)
  local o = {}
  for k, v in pairs(base or {}) do o[k] = v end
  o[key] = value
  return o
end

-- 1. every argument of every function, every wrong value of its kind, every wrong value of
--    every option it takes.
for _, spec in ipairs(specs) do
  for pos, a in ipairs(spec.args) do
    local argn = a[1] == "self" and 1 or pos
    for _, v in ipairs(bad[a[1]]) do fuzz(spec, pos, v, argn) end
    if a[1] == "opts" then
      for key, kind in pairs(a[3] or {}) do
        for _, v in ipairs(bad_option[kind]) do fuzz(spec, pos, with(a.base, key, v), argn) end
      end
    end
  end
end
local exhaustive = calls

-- 2. seeded random calls: a random function, argument and wrong value, option values
--    nested one level deeper (wait tables inside connect options).
local option_kinds = {}
for kind in pairs(bad_option) do option_kinds[#option_kinds + 1] = kind end
table.sort(option_kinds)
for _ = 1, RANDOM_CALLS do
  local spec = specs[math.random(#specs)]
  local pos = math.random(#spec.args)
  local a = spec.args[pos]
  local argn = a[1] == "self" and 1 or pos
  local keys = {}
  for key in pairs(a[3] or {}) do keys[#keys + 1] = key end
  table.sort(keys)
  if a[1] == "opts" and #keys > 0 and math.random() < 0.7 then
    local key = keys[math.random(#keys)]
    local pool = bad_option[a[3][key]]
    local v = pool[math.random(#pool)]
    if a[3][key] == "wait" and math.random() < 0.5 then
      local inner = bad_option.duration
      v = { timeout = inner[math.random(#inner)] }
    end
    fuzz(spec, pos, with(a.base, key, v), argn)
  else
    local pool = bad[a[1]]
    fuzz(spec, pos, pool[math.random(#pool)], argn)
  end
end

t.ok(calls >= 3500, ("%d calls (%d exhaustive, %d random, seed %d)"):format(calls, exhaustive,
  calls - exhaustive, SEED))
t.is(failures, 0, ("every bad call is a bad argument error at the caller's line (seed %d)"):format(SEED))

-- A count is capped: a billion replays at once is refused before anything starts.
local ok, err = pcall(gl.grade_pending, gl, "t", fn, { concurrency = 1e9 })
t.ok(not ok and tostring(err):find("concurrency must be at most", 1, true),
  "grade_pending{concurrency = 1e9} is refused: " .. tostring(err))

t.done()
