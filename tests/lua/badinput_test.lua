-- Bad input from users: unknown flags and sub-commands, missing files, broken test files,
-- a grader with a bug, wrong argument types to the public functions, a missing secret,
-- malformed URLs, unknown provider options. Each gets one clear message (the user's
-- file:line where there is one) and the documented exit code: 2 usage or configuration,
-- 3 script error. (Flags of `evalua` itself, a missing script, a syntax error in a
-- script and a missing variable in `-e` code are in cli_test.lua.)
local t = require "tap"
local shell = require "shell"
local support = require "providers_support"
local model = require "evalua.model"
local expect = require("evalua.runner.expect").expect

local sh = shell.sh

local root = io.popen("pwd"):read("l")
local dir = sh("mktemp -d"):gsub("%s+$", "")
local EVALUA = root .. "/bin/evalua"

local write = shell.write

local read = shell.read

-- `evalua ARGS` in `cwd` (default the repository): output and exit code.
local function cli(args, cwd, envs)
  return sh(("cd %s && env -u EVALUA_JOURNAL -u SF_MY_DOMAIN -u KAPSO_API_KEY -u GLOW_TOKEN %s %s %s")
    :format(cwd or root, envs or "", EVALUA, args))
end

-- Exit code `code` and one message matching `plain` (a plain substring).
local function refused(args, code, plain, label, cwd, envs)
  local out, got = cli(args, cwd, envs)
  local good = t.ok(got == code and out:find(plain, 1, true) ~= nil,
    ("%s: exit %d, %q"):format(label or ("evalua " .. args), code, plain))
  if not good then t.diag(("exit %s:\n%s"):format(tostring(got), out)) end
  return out
end

-- command line ----------------------------------------------------------------------------

refused("test --nope", 2, "evalua test: unknown option --nope")
refused("test --jobs", 2, "evalua test: --jobs needs a value")
refused("test --jobs 0 tests/runner/passing", 2, "--jobs expects a positive whole number, got '0'")
refused("test no/such/dir", 2, "evalua test: no such file or directory: no/such/dir")
refused("test no_such_test.lua", 2, "evalua test: no such file or directory: no_such_test.lua")
refused("test -r yaml tests/runner/passing", 2, "unknown reporter 'yaml'")
refused("report --nope", 2, "evalua report: unknown option --nope")
refused("report frobnicate", 2, "evalua report: expected 'merge'")
refused("report merge no_such_report.json -o " .. dir .. "/m.json", 2, "cannot read no_such_report.json")
refused("resume --nope", 2, "evalua resume: unknown option --nope")
refused("resume stray", 2, "evalua resume: unexpected argument stray")
refused("run", 2, "run needs a script")
-- Regression test (fixed): a bad duration is reported with duration.seconds' own argument error (cli/test.lua
-- and cli/resume.lua pass tostring(err) through): "--timeout: bad argument #1 to
-- 'evalua.duration.seconds' (invalid duration 'soon' ...)" -- an internal function the user
-- never called, and the words "bad argument" for a command-line flag.
for _, cmd in ipairs { "test --timeout soon tests/runner/passing", "resume --timeout soon" } do
  local out = refused(cmd, 2, "invalid duration 'soon'")
  t.ok(not out:find("bad argument", 1, true) and not out:find("evalua.duration", 1, true),
    "evalua " .. cmd .. ": the message does not speak of evalua's internals")
end

-- The bundled scripts: --help, unknown flags, missing or malformed values.
local scripts = {}
for name in io.popen("ls " .. root .. "/scripts/*.lua"):lines() do scripts[#scripts + 1] = name end
t.ok(#scripts >= 6, ("%d bundled scripts"):format(#scripts))
for _, path in ipairs(scripts) do
  local name = path:match("[^/]+$")
  local out, code = cli("run " .. path .. " --help")
  -- Regression test (concurrency.lua, fixed): it takes its arguments by position, so "--help" and "--nope" are
  -- used as the base URL (exit 3, "malformed URL "--nope/_/delay/0.25""); it should parse
  -- flags with evalua.script like the other scripts.
  t.ok(code == 0 and out:find("usage: evalua run " .. name, 1, true), name .. " --help: usage, exit 0")
  refused("run " .. path .. " --nope", 2, "unknown flag --nope", name .. " --nope")
end
refused("run scripts/agentforce.lua", 2, "--definition is required", "agentforce.lua without --definition")
refused("run scripts/agentforce.lua --definition X --wait soon", 2, "--wait needs a duration like 30s or 10m, got 'soon'")
refused("run scripts/agentforce.lua --definition X --min-pass-rate most", 2, "--min-pass-rate needs a number, got 'most'")
refused("run scripts/agentforce.lua --definition", 2, "--definition needs a value")
refused("run scripts/kapso.lua", 2, "give at least one --case ID")
refused("run scripts/glow-grade.lua --test T --grader " .. dir .. "/no_such_grader.lua", 2,
  "cannot load the grader: cannot open " .. dir .. "/no_such_grader.lua", "glow-grade.lua with a missing grader")

-- broken test files do not stop the others -----------------------------------------------------

do
  local suite = dir .. "/suite"
  os.execute("mkdir -p " .. suite)
  write(suite .. "/a_syntax_test.lua", 'test("never declared", function()\n  expect(1):to_be(1)\nend\n')
  write(suite .. "/b_runtime_test.lua", 'local config = nil\nlocal name = config.name\ntest("never", function() end)\n')
  write(suite .. "/c_bug_test.lua", 'test("calls a nil value", function()\n  local f\n  f()\nend)\n'
    .. 'test("wrong argument", function() task.sleep({}) end)\n')
  write(suite .. "/d_fine_test.lua", 'test("still runs", function() expect(2):to_be(2) end)\n')
  local _, code = cli("test -r json:r.json -r junit:r.xml .", suite)
  t.is(code, 3, "a suite with broken files exits 3")
  local data = json.decode(read(suite .. "/r.json") or "{}")
  local by = {}
  for _, e in ipairs(data.tests or {}) do by[e.file .. " " .. e.name] = e end
  local syntax = by["a_syntax_test.lua (loading the file)"]
  t.ok(syntax and syntax.outcome == "error" and syntax.error.message:find("a_syntax_test.lua:4:", 1, true),
    "a syntax error: an error naming the file and line")
  local runtime = by["b_runtime_test.lua (loading the file)"]
  t.ok(runtime and runtime.outcome == "error"
    and runtime.error.message:find("b_runtime_test.lua:2: attempt to index a nil value", 1, true),
    "an error at the top of a file: an error naming the file and line")
  local bug = by["c_bug_test.lua calls a nil value"]
  t.ok(bug and bug.outcome == "error" and bug.error.message:find("c_bug_test.lua:3:", 1, true),
    "an error inside a test: an error naming the file and line")
  local badarg = by["c_bug_test.lua wrong argument"]
  -- Regression test (fixed): task.sleep's duration check is blamed on lua/evalua/task.lua (see the argument
  -- checks below), so the test's own line is missing.
  t.ok(badarg and badarg.outcome == "error"
    and badarg.error.message:find("c_bug_test.lua:5: bad argument #1 to 'sleep'", 1, true),
    "a bad argument inside a test: an error naming the test's line")
  local fine = by["d_fine_test.lua still runs"]
  t.ok(fine and fine.outcome == "passed", "the good file still ran and passed")
  local _, xml = sh("xmllint --noout " .. suite .. "/r.xml")
  t.is(xml, 0, "and every report was written")
end

do -- a test that calls os.exit must not end the session
  local suite = dir .. "/exiting"
  os.execute("mkdir -p " .. suite)
  write(suite .. "/a_exit_test.lua", 'test("ends the process", function() os.exit(0) end)\n')
  write(suite .. "/b_fine_test.lua", 'test("still runs", function() expect(2):to_be(2) end)\n')
  local _, code = cli("test -r json:r.json .", suite)
  local data = json.decode(read(suite .. "/r.json") or "{}")
  local outcomes = {}
  for _, e in ipairs(data.tests or {}) do outcomes[e.name] = e.outcome end
  -- Regression test (fixed): os.exit(0) in a test ends `evalua test` at once with exit 0: no report is written
  -- and the other tests never run -- CI sees a pass. The runner should give test files an
  -- os.exit that raises (an error outcome for that test), as busted does.
  t.is(code, 3, "a test calling os.exit(0): the session goes on and exits 3, not 0")
  t.ok(outcomes["ends the process"] == "error" and outcomes["still runs"] == "passed",
    "that test is an error, the others run and are reported")
end

do -- a secret whose variable is unset, in a test file: a configuration error (2)
  local suite = dir .. "/secret"
  os.execute("mkdir -p " .. suite)
  write(suite .. "/a_secret_test.lua", 'local key = secret("EVALUA_BADINPUT_UNSET")\n'
    .. 'test("uses the key", function() expect(key):to_be_a("string") end)\n')
  write(suite .. "/b_fine_test.lua", 'test("still runs", function() expect(2):to_be(2) end)\n')
  local out, code = cli("test -r json:r.json .", suite, "-u EVALUA_BADINPUT_UNSET")
  local data = json.decode(read(suite .. "/r.json") or "{}")
  local loading
  for _, e in ipairs(data.tests or {}) do
    if e.file == "a_secret_test.lua" then loading = e end
  end
  t.ok(out:find("environment variable EVALUA_BADINPUT_UNSET is not set", 1, true) ~= nil,
    "evalua test names the missing variable")
  -- Regression test (fixed): the runner counts the config error as a Lua error (outcome error, exit 3) and drops
  -- its location (err.where, set by env()): "cannot load test file: config error: ...".
  t.is(code, 2, "and exits 2, a configuration error (as `evalua run` does)")
  t.ok(loading and loading.error and loading.error.message:find("a_secret_test.lua:1", 1, true),
    "naming the file and line that asked for it")
end

-- wrong argument types to the public functions ---------------------------------------------------

-- `fn` is a one-line function calling the public function wrongly; the error must be
-- "badinput_test.lua:<that line>: bad argument #n to 'fname' (".
local function bad(fn, n, fname, label)
  local line = debug.getinfo(fn, "S").linedefined
  local ok, err = pcall(fn)
  local text = tostring(err)
  local want = ("badinput_test.lua:%d: bad argument #%d to '%s' ("):format(line, n, fname)
  local good = t.ok(not ok and text:find(want, 1, true) ~= nil, label or want)
  if not good then t.diag(ok and "no error was raised" or text) end
end

local noop = function() end
local function never() return false end

bad(function() json.decode({}) end, 1, "decode")
bad(function() json.array(42) end, 1, "array")
do
  local ok, err = pcall(function() json.encode({ f = print }) end)
  t.ok(not ok and tostring(err):find("badinput_test.lua:%d+: json.encode: cannot encode a function at %$%.f"),
    "json.encode of a function: an error at the caller's line naming the path")
end

bad(function() http.get(42) end, 1, "get")
bad(function() http.post("http://127.0.0.1:1/", 42) end, 2, "post")
bad(function() http.request(42) end, 1, "request")
bad(function() http.request { url = "http://127.0.0.1:1/", headers = 42 } end, 1, "request")
bad(function() http.request { url = "http://127.0.0.1:1/", method = "FETCH" } end, 1, "request")
bad(function() http.request { url = "http://127.0.0.1:1/", retry = "yes" } end, 1, "request")
bad(function() http.configure(42) end, 1, "configure")
-- Regression test (fixed): durations are checked by duration.seconds (a C function called from lua/evalua/*.lua),
-- so the error names 'duration' (or 'timer') and points into evalua, not at the caller:
-- "lua/evalua/http.lua:182: bad argument #1 to 'duration' (...)". Same for task.sleep,
-- task.timeout, poll.wait's options and run:wait{timeout}.
bad(function() http.request { url = "http://127.0.0.1:1/", timeout = {} } end, 1, "request")
bad(function() http.configure { timeout = "soon" } end, 1, "configure")
bad(function() task.sleep("soon") end, 1, "sleep")
bad(function() task.timeout("soon", noop) end, 1, "timeout")
bad(function() poll.wait(never, { interval = "soon" }) end, 2, "wait")
-- Regression test (fixed): options that are not numbers are not checked: max_body = "big" and retry.attempts =
-- "many" are silently replaced by the defaults (core/http_lua.c field_num), poll.wait's factor
-- fails with "attempt to mul a 'number' with a 'string'" in poll.lua, and
-- max_host_connections = "x" says "bad argument #-1 to 'http_configure'" from http.lua.
bad(function() http.request { url = "http://127.0.0.1:1/", max_body = "big", retry = false } end, 1, "request")
bad(function() http.request { url = "http://127.0.0.1:1/", retry = { attempts = "many" } } end, 1, "request")
bad(function() http.configure { max_body = "big" } end, 1, "configure")
bad(function() http.configure { max_host_connections = "many" } end, 1, "configure")
bad(function() poll.wait(never, { interval = 0.001, timeout = 1, factor = "x" }) end, 2, "wait")
-- Regression test (fixed): a malformed URL given to http.get is reported against 'request', a function the
-- caller did not call (http.lua check_url is shared by the shorthands).
bad(function() http.get("http//no-colon.example/") end, 1, "get")
do
  -- Regression test (fixed): the JSON body is encoded inside http.lua, so the error points there.
  local ok, err = pcall(function() http.post("http://127.0.0.1:1/", { json = { f = print } }) end)
  t.ok(not ok and tostring(err):find("^[^\n]*badinput_test.lua:%d+: json.encode: cannot encode a function"),
    "http.post with a json body that cannot be encoded: the error is at the caller's line")
end

bad(function() task.spawn(42) end, 1, "spawn")
bad(function() task.wait(42) end, 1, "wait")
bad(function() task.all(42) end, 1, "all")
bad(function() task.timeout(1, 42) end, 2, "timeout")
bad(function() task.cancel(42) end, 1, "cancel")
bad(function() poll.wait(42) end, 1, "wait")
bad(function() poll.wait(never, 42) end, 2, "wait")
bad(function() poll.wait(never, { intervall = 1 }) end, 2, "wait")

bad(function() auth.api_key(42) end, 1, "api_key")
bad(function() auth.bearer(42) end, 1, "bearer")
bad(function() auth.client_credentials(42) end, 1, "client_credentials")
bad(function() auth.client_credentials { token_url = 42 } end, 1, "client_credentials")
bad(function() env(42) end, 1, "env")
-- Regression test (fixed): secret() calls env() and lets it name itself: "bad argument #1 to 'env'".
bad(function() secret(42) end, 1, "secret")
bad(function() evalua.on_interrupt(42) end, 1, "on_interrupt")

-- provider clients (nothing here reaches the network)
local agentforce = require "evalua.agentforce"
local futureagi = require "evalua.futureagi"
local kapso = require "evalua.kapso"
local glow = require "evalua.glow"
local sf = agentforce.connect { base_url = "http://127.0.0.1:1", client_id = "id", client_secret = "a-secret" }
local fi = futureagi.connect { base_url = "http://127.0.0.1:1", api_key = "k", secret_key = "s" }
local ks = kapso.connect { base_url = "http://127.0.0.1:1", api_key = "k" }
local gl = glow.connect { base_url = "http://127.0.0.1:1", token = "t" }
local sf_run = sf:attach { provider = "agentforce", id = "4KB", api = "ai-evaluations", api_version = "63.0",
                           status = "completed" }
local gl_run = gl:attach { provider = "glow", id = "r", test_id = "t", invocation_id = "i", status = "completed" }

bad(function() agentforce.connect(42) end, 1, "agentforce.connect")
bad(function() futureagi.connect(42) end, 1, "futureagi.connect")
bad(function() kapso.connect(42) end, 1, "kapso.connect")
bad(function() glow.connect(42) end, 1, "glow.connect")
bad(function() kapso.connect { api_key = "k", threshold = 8 } end, 1, "kapso.connect", "unknown provider option")
-- Regression test (fixed): option values are not checked by connect: base_url = 42 crashes in common.lua:56
-- ("attempt to index a number value (local 'url')"); timeout = "soon" and pass_score =
-- "high" are accepted and fail (or silently misjudge) later; a client_id of the wrong type
-- is reported against 'client_credentials' (api_key: 'api_key', token: 'bearer').
bad(function() agentforce.connect { base_url = 42, client_id = "id", client_secret = "s" } end, 1, "agentforce.connect")
bad(function() agentforce.connect { base_url = "http://x", client_id = 42, client_secret = "s" } end, 1, "agentforce.connect")
bad(function() kapso.connect { api_key = "k", timeout = "soon" } end, 1, "kapso.connect")
bad(function() kapso.connect { api_key = "k", pass_score = "high" } end, 1, "kapso.connect")

bad(function() sf:start(42) end, 1, "start")
bad(function() sf:attach(42) end, 1, "attach")
bad(function() sf_run:wait(42) end, 1, "wait")
bad(function() sf_run:wait { timout = "1s" } end, 1, "wait")
bad(function() sf_run:results(42) end, 1, "results")
-- Regression test (see durations above, fixed): "lua/evalua/poll.lua:30: bad argument #1 to 'duration'".
bad(function() sf:attach({ provider = "agentforce", id = "x" }):wait { timeout = "soon" } end, 1, "wait")
-- Regression test (fixed): a method called with '.' instead of ':' fails inside common.lua ("attempt to index
-- a nil value (local 'self')"); Lua's own io methods say "bad argument #1 ... (FILE*
-- expected, got no value)".
bad(function() sf_run.wait() end, 1, "wait")
bad(function() fi:start(42) end, 1, "start")
bad(function() fi:create(42) end, 1, "create")
bad(function() fi:list(42) end, 1, "list")
-- Regression test (fixed): common.check_options always says "#1", whichever argument the options table is
-- (fi:start(id, opts) is #2, gl:grade_pending(test_id, grader, opts) is #3).
bad(function() fi:start("d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30", 42) end, 2, "start")
-- Regression test (fixed): fi:update's fields are iterated unchecked: "futureagi.lua:87: bad argument #1 to
-- 'for iterator'".
bad(function() fi:update("d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30", 42) end, 2, "update")
bad(function() ks:start(42) end, 1, "start")
bad(function() ks:chat(42) end, 1, "chat")
-- Regression test (fixed): create_suite's fields are not checked (a number is sent to the service as
-- {"test_suite": 42}); wait_chat(42) is blamed on kapso.lua and named 'get_chat'.
bad(function() ks:create_suite(42) end, 1, "create_suite")
bad(function() ks:wait_chat(42) end, 1, "wait_chat")
bad(function() gl:start(42) end, 1, "start")
bad(function() gl:create(42) end, 1, "create")
bad(function() gl:grade_pending(42, noop) end, 1, "grade_pending")
bad(function() gl:grade_pending("t", 42) end, 2, "grade_pending")
bad(function() gl:grade_pending("t", noop, 42) end, 3, "grade_pending")
-- Regression test (fixed): search and grade index their argument unchecked ("glow.lua:90: attempt to index a
-- number value (local 'filters')", "glow.lua:190: ... (local 'target')").
bad(function() gl:search(42) end, 1, "search")
bad(function() gl:grade(42, { passed = true }) end, 1, "grade")
do
  local ok, err = pcall(function() gl_run:grade(42) end)
  t.ok(not ok and tostring(err):find("badinput_test.lua:%d+: .*verdict table expected"),
    "run:grade with a verdict that is not a table: an error at the caller's line")
end

-- model helpers
local mrun = model.from.agentforce { status = "COMPLETED", testCases = {} }
local mcase = model.case { name = "1" }
-- Regression test (fixed): the model helpers check nothing: model.from.agentforce(42) fails inside model.lua
-- ("attempt to index a number value (local 'doc')"), model.from.kapso("x") returns an empty
-- run, and run:pass_rate(42), run:case({}), case:metric(42) quietly return nil.
bad(function() model.from.agentforce(42) end, 1, "from.agentforce")
bad(function() model.from.kapso("x") end, 1, "from.kapso")
bad(function() mrun:pass_rate(42) end, 1, "pass_rate")
bad(function() mrun:case({}) end, 1, "case")
bad(function() mcase:metric(42) end, 1, "metric")

-- expect matchers
bad(function() expect(1):to_be_at_least("x") end, 1, "to_be_at_least")
bad(function() expect(1):to_be_at_most({}) end, 1, "to_be_at_most")
bad(function() expect("a"):to_match(42) end, 1, "to_match")
bad(function() expect("a"):to_contain(42) end, 1, "to_contain")
bad(function() expect("a"):to_be_a(42) end, 1, "to_be_a")
bad(function() expect(mcase):to_pass_metric(42) end, 1, "to_pass_metric")
bad(function() expect(mcase):to_have_metric() end, 1, "to_have_metric")
bad(function() expect(mcase):to_score_at_least("m", "x") end, 2, "to_score_at_least")
bad(function() expect(mrun):to_have_pass_rate_at_least("most") end, 1, "to_have_pass_rate_at_least")
bad(function() expect(1).to_equal(1) end, 0, "to_equal", "a matcher called with '.'")
-- Regression test (fixed): a malformed pattern fails inside expect.lua:85 ("malformed pattern (missing ']')");
-- a table as to_raise's pattern fails in expect.lua:132 ("bad argument #1 to 'find'").
bad(function() expect("a"):to_match("[") end, 1, "to_match")
bad(function() expect(error):to_raise({}) end, 1, "to_raise")
-- Regression test (fixed): the metric name is checked per case, so on a run without cases a wrong argument
-- becomes an assertion failure ("expected run ... to pass metric 42") instead of an error.
bad(function() expect(mrun):to_pass_metric(42) end, 1, "to_pass_metric")

-- what `bin/evalua run` makes of bad input ---------------------------------------------------------

do
  write(dir .. "/option.lua", 'local kapso = require "evalua.kapso"\nlocal ks = kapso.connect { api_key = "k", threshold = 8 }\n')
  refused("run option.lua", 3, "option.lua:2: bad argument #1 to 'kapso.connect' (unknown option 'threshold')",
    "an unknown provider option", dir)
  write(dir .. "/types.lua", 'local h = task.spawn(print)\nprint(task.wait("h"))\n')
  refused("run types.lua", 3, "types.lua:2: bad argument #1 to 'wait' (task handle expected, got string)",
    "a wrong argument type", dir)
  write(dir .. "/creds.lua", 'local kapso = require "evalua.kapso"\nlocal ks = kapso.connect {}\n')
  refused("run creds.lua", 2, "creds.lua:2: config error: kapso.connect: api_key is required (pass api_key = ... "
    .. "or set KAPSO_API_KEY)", "a missing environment variable for a provider's secret", dir)
  write(dir .. "/url.lua", 'print(http.get("http//no-colon.example/"))\n')
  refused("run url.lua", 3, "url.lua:1: bad argument #1 to", "a malformed URL", dir)
  -- Regression test (fixed): a provider's base URL is not checked by connect; from the environment it becomes a
  -- protocol error at the first request (exit 4, an infrastructure error, naming no variable);
  -- as an option, a bad argument to 'request' at the line of the first call.
  write(dir .. "/base.lua", 'local kapso = require "evalua.kapso"\nlocal ks = kapso.connect {}\nprint(ks:get_case("x"))\n')
  refused("run base.lua", 2, "KAPSO_BASE_URL", "a malformed base URL in the environment: a configuration error naming it",
    dir, "KAPSO_BASE_URL=::::not-a-url KAPSO_API_KEY=k")
  write(dir .. "/base2.lua", 'local kapso = require "evalua.kapso"\n'
    .. 'local ks = kapso.connect { base_url = "http://exa mple.com/api", api_key = "k" }\nprint(ks:get_case("x"))\n')
  refused("run base2.lua", 3, "base2.lua:2: bad argument #1 to 'kapso.connect'",
    "a malformed base_url option: refused by connect, at its line", dir)
end

-- a grader with a bug (scripts/glow-grade.lua against the sandbox) ------------------------------------

support.run(function()
  local base = support.start { run_seconds = 0.3 }
  local envs = ("GLOW_BASE_URL=%s/glow GLOW_TOKEN=glow-test-token"):format(base)
  local bench = "b3e1a7c0-0000-4000-8000-000000000001"
  local function grade(grader)
    local path = dir .. "/" .. grader
    return sh(("cd %s && env -u EVALUA_JOURNAL %s %s run %s/scripts/glow-grade.lua --benchmark %s --grader %s --wait 20s")
      :format(dir, envs, EVALUA, root, bench, path))
  end

  write(dir .. "/crash_grader.lua", "-- counts words, with a bug\nreturn function(run, case)\n"
    .. "  local n = #case.outputs.response\n  return { score = n.words }\nend\n")
  local out, code = grade("crash_grader.lua")
  t.is(code, 3, "a grader that raises an error: exit 3")
  t.ok(out:find("crash_grader.lua:4: attempt to index a number value", 1, true) ~= nil,
    "with the grader's file:line and the error")
  if not out:find("crash_grader.lua:4:", 1, true) then t.diag(out) end

  write(dir .. "/verdict_grader.lua", "return function(run, case)\n  return { score = \"high\" }\nend\n")
  out, code = grade("verdict_grader.lua")
  t.is(code, 3, "a grader returning a malformed verdict: exit 3")
  -- Regression test (fixed): the message points into evalua ("lua/evalua/providers/glow.lua:235: grade run ...:
  -- verdict field 'score' must be a number") and never names the grader that returned it.
  t.ok(out:find("verdict field 'score' must be a number", 1, true) and out:find("verdict_grader.lua", 1, true)
    and not out:find("lua/evalua/", 1, true), "naming the grader, not evalua's internals")

  write(dir .. "/syntax_grader.lua", "return function(run, case)\n  return { score = = 1 }\nend\n")
  out, code = grade("syntax_grader.lua")
  t.ok(out:find("syntax_grader.lua:2:", 1, true) ~= nil, "a grader with a syntax error: its file:line")
  -- Regression test (fixed): scripts/glow-grade.lua returns 2 for any grader that does not load; a syntax error is
  -- a Lua error in the user's code (3), as for `evalua run` and `evalua test` files.
  t.is(code, 3, "and exit 3, as for any Lua file of the user's with a syntax error")

  write(dir .. "/value_grader.lua", "return 42\n")
  refused(("run %s/scripts/glow-grade.lua --benchmark %s --grader %s/value_grader.lua"):format(root, bench, dir), 2,
    "value_grader.lua must return a function(run, case), it returned a number", "a grader file returning no function",
    dir, envs)
end)

sh("rm -rf " .. dir)
t.done()
