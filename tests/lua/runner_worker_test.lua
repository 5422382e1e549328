-- A test's body runs on its worker's own coroutine (no task of its own): its timeout and
-- a cancel still stop exactly that test, at each state it can be in (sleeping, in the
-- middle of a request, inside a pcall that catches the error, with tasks of its own),
-- its tasks are reaped when it ends, what it and its tasks print is its own, the
-- worker goes on to the next test unharmed, and a stopped test never reports passed;
-- what a test collects is its own (lists made on demand, empty ones shared).
local t = require "tap"
local json = require "evalua.json"
local sandbox = require "sandbox"
local shell = require "shell"

local base = sandbox.start()
local dir = shell.tmpdir()

-- `evalua test ARGS FILE` on `text`; returns the report's tests by name, the exit code
-- and the output.
local function session(name, text, args)
  local path = ("%s/%s_test.lua"):format(dir, name)
  shell.write(path, text)
  local report = ("%s/%s.json"):format(dir, name)
  local out, rc = shell.sh(("BASE=%s bin/evalua test %s -r json:%s %s"):format(base, args, report, path), 300)
  local ok, data = pcall(json.decode, shell.read(report) or "")
  local tests = {}
  for _, e in ipairs(ok and data.tests or {}) do tests[e.name] = e end
  if not ok then t.diag(out) end
  return tests, rc, out
end

local STATES = [[
local http = require "evalua.http"
local task = require "evalua.task"
local BASE = os.getenv("BASE")
test("sleeping", function() task.sleep(120) end)
test("mid-request", function() http.get(BASE .. "/_/delay/120") end)
test("inside pcall", function()
  local ok, err = pcall(task.sleep, 120)
  print("caught", ok, err.kind)
end)
test("with spawned children", function()
  for i = 1, 2 do
    task.spawn(function()
      local _ <close> = setmetatable({}, { __close = function() print("child " .. i .. " closed") end })
      task.sleep(120)
    end)
  end
  task.sleep(120)
end)
]]

-- 1. --bail: the first failure cancels the tests running; each ends skipped.
do
  local tests, rc = session("bail", STATES .. [[
test("fails", function() task.sleep(0.5); expect(1):to_be(2) end)
]], "--bail --jobs 5 --timeout 0")
  t.is(rc, 1, "--bail: the session fails (exit 1)")
  t.is(tests.fails and tests.fails.outcome, "failed", "--bail: the failing test failed")
  for _, name in ipairs { "sleeping", "mid-request", "inside pcall", "with spawned children" } do
    local e = tests[name] or {}
    t.is(e.outcome, "skipped", "--bail cancels a test " .. name .. ": skipped, never passed")
    t.like(e.skip_reason or "", "stopped at the first failure", "  and says why (" .. name .. ")")
  end
  t.like((tests["inside pcall"] or {}).output or "", "caught\tfalse\tcancelled",
    "--bail: the test that caught its cancel saw a cancellation")
  local out = (tests["with spawned children"] or {}).output or ""
  t.ok(out:find("child 1 closed", 1, true) and out:find("child 2 closed", 1, true),
    "--bail: the test's own tasks were cancelled with it, their output is the test's")
end

-- 2. Timeouts: each state times out on its own; the others on other workers pass.
do
  local tests, rc = session("timeout", STATES:gsub('end%)\n', 'end, { timeout = "1s" })\n') .. [[
test("quick on its own worker", function() task.sleep(2) end)
]], "--jobs 5 --timeout 0")
  t.is(rc, 4, "timeouts: the session is infra (exit 4)")
  for _, name in ipairs { "sleeping", "mid-request", "inside pcall", "with spawned children" } do
    local e = tests[name] or {}
    t.is(e.outcome, "infra", "a test " .. name .. " past its timeout is infra, never passed")
    t.like(e.error and e.error.message or "", "timed out after 1s %(the test's timeout%)", "  timeout (" .. name .. ")")
  end
  local out = (tests["with spawned children"] or {}).output or ""
  t.ok(out:find("child 1 closed", 1, true) and out:find("child 2 closed", 1, true),
    "timeouts: the test's own tasks were cancelled at its timeout")
  t.is((tests["quick on its own worker"] or {}).outcome, "passed", "timeouts: a test beside them passes")
end

-- 3. One worker (--jobs 1): what befell a test does not reach the next one on it.
do
  local tests = session("worker", [[
local task = require "evalua.task"
test("times out", function() task.sleep(120) end, { timeout = "0.5s" })
test("after a timeout", function() task.sleep(1); print("slept") end)
test("cancelled by its own task as it ends", function()
  -- woken by the event, then cancelled while ready to run: the body ends before its
  -- next wait, so the cancel is still pending on the worker's coroutine
  local me, ev = task.current(), task.event()
  task.spawn(function() ev:set(); task.cancel(me) end)
  ev:wait()
end)
test("after a pending cancel", function() task.sleep(0.2); print("slept") end)
test("leaves a task running", function()
  task.spawn(function() task.sleep(120) end)
  task.sleep(0.1)
end)
test("children print as the test", function()
  task.wait(task.spawn(function() print("from a child") end))
end)
]], "--jobs 1 --timeout 0")
  t.is((tests["times out"] or {}).outcome, "infra", "one worker: the first test times out")
  t.is((tests["after a timeout"] or {}).outcome, "passed", "one worker: the next test runs in full (no deadline left)")
  t.is((tests["after a timeout"] or {}).output, "slept", "  and its output is its own")
  t.is((tests["after a pending cancel"] or {}).outcome, "passed",
    "one worker: a cancel pending as a test ended does not cancel the next one")
  t.like((tests["leaves a task running"] or {}).output or "", "1 task this left running was cancelled",
    "one worker: a task a test left running is cancelled at its end, and said so")
  t.is((tests["children print as the test"] or {}).output, "from a child", "one worker: a child's print is its test's")
end

-- 4. What a test collects (output, soft-check failures, runs) is its own list, made when
-- it first needs one; tests with none share nothing that another test's can reach.
do
  local tests = session("lists", [[
local task = require "evalua.task"
local n = 0
test("soft failures", function() check("one", false); check("two", false); print("went on") end)
test("passes beside it", function() task.sleep(0.1) end)
test("retried", function()
  n = n + 1
  check("first attempt", n > 1)
end, { retries = 1 })
test("passes after them", function() print("quiet") end)
]], "--jobs 2 --timeout 0")
  local soft = tests["soft failures"] or {}
  t.is(#(soft.failures or {}), 2, "lists: a test's soft failures are all its own")
  t.is(soft.output, "went on", "lists: and so is its output")
  t.is(#((tests["passes beside it"] or {}).failures or { 0 }), 0, "lists: a test beside it has none")
  local retried = tests.retried or {}
  t.is(retried.outcome, "flaky", "lists: a test that passed on a retry is flaky")
  t.is(#(retried.failures or { 0 }), 0, "lists: its last attempt has no failures")
  t.is(retried.attempts and #retried.attempts[1].failures, 1, "lists: its first attempt keeps its own")
  t.is(#((tests["passes after them"] or {}).failures or { 0 }), 0, "lists: a later test has none")
  local top = session("toplevel", 'check("at the top", true)\n', "--timeout 0")["(loading the file)"] or {}
  t.like(top.error and top.error.message or "", "check%(%) can only be used inside a test",
    "check() outside a test is an error, as before")
end

sandbox.stop()
shell.sh(("rm -rf %q"):format(dir))
t.done()
