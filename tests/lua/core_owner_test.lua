-- Issue 9, items 9 and 12: provider code does not read the user's globals, and nothing
-- outlives its owner: a test, a script's main chunk and task.timeout cancel the tasks
-- they left running, and `evalua test` / `evalua run` exit when their work is done.
local t = require "tap"
local sandbox = require "sandbox"
local shell = require "shell"
local support = require "core_support"

local base = sandbox.start()
sandbox.control("config", { run_seconds = 0.5 })

-- 9. A script that assigns its own globals `http`, `auth`, `json`, `task`, `poll`.
support.child("item 9 (providers ignore the user's globals)", [[
local wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" }
local kapso = require "evalua.kapso"
local glow = require "evalua.glow"
local agentforce = require "evalua.agentforce"
local futureagi = require "evalua.futureagi"
local spawn, tall = task.spawn, task.all
http, auth, json, task, poll = {}, {}, {}, {}, {}   -- the script's own, nothing to do with evalua's
local function try(label, fn)
  local ok, err = pcall(fn)
  check(ok, label .. " works whatever the script's globals are", err)
end
tall {
  spawn(try, "kapso", function()
    kapso.connect { base_url = BASE .. "/kapso/api/v1", api_key = "kapso-test-key", wait = wait }
      :start("ca5e0000-0000-4000-8000-000000000001"):wait():results()
  end),
  spawn(try, "agentforce (OAuth)", function()
    agentforce.connect { base_url = BASE .. "/sf", client_id = "sandbox-client-id",
      client_secret = "sandbox-client-secret", wait = wait }:start("Order_Support_All_Pass"):wait():results()
  end),
  spawn(try, "futureagi", function()
    futureagi.connect { base_url = BASE .. "/fi", api_key = "fi-test-key", secret_key = "fi-test-secret", wait = wait }
      :start("d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"):wait():results()
  end),
  spawn(try, "glow", function()
    local gl = glow.connect { base_url = BASE .. "/glow", token = "glow-test-token", wait = wait }
    gl:grade_pending(gl:create("b3e1a7c0-0000-4000-8000-000000000001"), function() return { passed = true } end,
      { limit = 1 })
  end),
}
]], { base = base })

-- 12. `evalua test` exits when its tests are done, whatever they left running.
do
  local report = support.dir .. "/left.json"
  local path = support.write("left_test.lua", [[
local cleaned = 0
test("leaves a ticker running", function()
  task.spawn(function()
    local _ <close> = setmetatable({}, { __close = function() cleaned = cleaned + 1 end })
    while true do task.sleep(0.1) end
  end)
  task.sleep(0.05)                             -- the ticker is running when the test ends
end)
test("task.timeout around a loop that only yields", function()
  local ok, err = pcall(task.timeout, 0.3, function() while true do coroutine.yield() end end)
  expect(not ok and err.kind == "timeout"):to_be(true)
end)
test("the first test's leftover was cancelled when it ended", function()
  task.sleep(0.05)
  expect(cleaned):to_be(1)
end)
]])
  local started = task.now()
  local out, rc = shell.sh(("exec timeout -k 2 15 bin/evalua test -j 1 -r json:%s %s"):format(report, path), 30)
  local took = task.now() - started
  local ok, r = pcall(json.decode, shell.read(report) or "")
  t.ok(rc ~= 124 and rc ~= 137 and took < 10,
    ("item 12: evalua test exits when its tests are done (%.1fs, exit %s)"):format(took, tostring(rc)))
  t.ok(ok and r.summary and r.summary.total == 3, "item 12: the report is written")
  for i, name in ipairs { "the test leaving a ticker", "the task.timeout around a yielding loop",
                          "the leftover task's <close> ran at its test's end" } do
    t.is(ok and r.tests[i] and r.tests[i].outcome, "passed", "item 12: " .. name .. " passes")
  end
  if not ok then t.diag(out) end
end

-- 12. `evalua run` exits when the main chunk is done: its leftover tasks are cancelled.
do
  local out, rc, took = support.child("item 12 (evalua run)", [[
task.spawn(function()
  local _ <close> = setmetatable({}, { __close = function() print("leftover closed") end })
  while true do task.sleep(0.1) end
end)
task.spawn(function() while true do coroutine.yield() end end)
task.sleep(0.05)                               -- both are running when the main chunk ends
]], { secs = 15 })
  t.ok(rc == 0 and took < 10, ("item 12: evalua run exits 0 when its main chunk ends (%.1fs)"):format(took))
  t.like(out, "leftover closed", "item 12: the leftover task was cancelled (its <close> ran)")
  t.like(out, "2 tasks still running", "item 12: and evalua says how many it cancelled")
end

-- 12. task.timeout owns what its function spawned.
support.child("item 12 (task.timeout owns its tasks)", [[
local core = require "evalua.sched"
local inner, closed = nil, false
local v = task.timeout(5, function()
  inner = task.spawn(function()
    local _ <close> = setmetatable({}, { __close = function() closed = true end })
    task.sleep(30)
  end)
  task.sleep(0.02)                             -- it is running when the function returns
  return "done"
end)
check(v == "done", "task.timeout returns its function's result")
task.sleep(0.05)
check(closed, "the task it left running was cancelled at once (its <close> ran)")
local t0 = task.now()
local ok, err = pcall(task.wait, inner)
check(not ok and evalua.errors.is(err, "cancelled") and task.now() - t0 < 1,
  "and ended with a cancelled error", err)
local s = core.stats()
check(s.timers == 0 and s.tasks == 1, "nothing is left", ("timers %d, tasks %d"):format(s.timers, s.tasks))
]])

sandbox.stop()
support.cleanup()
t.done()
