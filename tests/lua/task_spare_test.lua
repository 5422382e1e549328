-- task._on_spare (work lent a spare coroutine inside the calling task) and the stack
-- safety of the scheduler's wake-ups. Runs under valgrind in make check (tests/valgrind.sh):
-- a write past a coroutine's stack is reported there even when the allocator hides it.
local t = require "tap"
local sched = require "evalua.sched"
local poll = require "evalua.poll"

local on_spare = task._on_spare

-- Results, the running task and the deadline are the caller's.
do
  local me = task.current()
  local a, b, c = on_spare(function(x, y) return x + y, task.current(), sched.deadline() end, 1, 2)
  t.is(a, 3, "a spare returns the function's results")
  t.ok(b == me, "task.current() on a spare is the calling task")
  t.is(c, sched.deadline(), "and its deadline is the caller's")
  local n = select("#", on_spare(function() return nil, nil, 3 end))
  t.is(n, 3, "trailing nils are kept")
end

-- Waits on a spare: sleep, a join, a semaphore, a nested spare.
do
  local v = on_spare(function() task.sleep(0.01) return "slept" end)
  t.is(v, "slept", "a spare may sleep")
  local child = task.spawn(function() task.sleep(0.01) return "joined" end)
  t.is(on_spare(task.wait, child), "joined", "a spare may join another task")
  local sem = task.semaphore(0)
  task.spawn(function() task.sleep(0.01) sem:release() end)
  t.is(on_spare(function() return sem:acquire(5) end), true, "a spare may park on a semaphore")
  t.is(on_spare(on_spare, function() task.sleep(0) return "deep" end), "deep", "spares nest")
end

-- Errors: raised at the caller, the spare dropped; a structured error names the user's line.
do
  local ok, err = pcall(on_spare, function() error("boom") end)
  t.ok(not ok and tostring(err):find("boom", 1, true), "an error on a spare is raised at the caller")
  ok, err = pcall(on_spare, function() error({ kind = "x" }) end)
  t.ok(not ok and type(err) == "table" and err.kind == "x", "a structured error arrives as it was")
  local _, err2 = pcall(on_spare, function() require("evalua.errors").raise({ kind = "http", message = "m" }) end)
  t.like(tostring(rawget(err2, "where")), "task_spare_test%.lua:%d+$", "and blames the user's line that called")
  t.is(on_spare(function() return "after" end), "after", "the next call gets a working spare")
end

-- Cancellation at each state the spare can be in: sleeping, joining, parked, inside pcall
-- and coroutine.wrap on the spare. The task ends cancelled, its cleanup ran.
local function cancelled_while(name, body)
  local closed = false
  local h = task.spawn(function()
    local _ <close> = setmetatable({}, { __close = function() closed = true end })
    on_spare(body)
    return "not cancelled"
  end)
  task.sleep(0.02)
  task.cancel(h)
  local ok, err = pcall(task.wait, h)
  t.ok(not ok and task.is_cancelled(err) and closed, "cancelled on a spare while " .. name)
end
cancelled_while("sleeping", function() task.sleep(30) end)
cancelled_while("joining", function() task.wait(task.spawn(function() task.sleep(30) end)) end)
cancelled_while("parked", function() task.semaphore(0):acquire() end)
cancelled_while("inside pcall", function()
  local ok, err = pcall(task.sleep, 30)
  if not ok then error(err, 0) end
end)
cancelled_while("inside coroutine.wrap", coroutine.wrap(function() task.sleep(30) end))

-- The deadline of task.timeout ends a spare's wait, as it would the task's own.
do
  local ok, err = pcall(task.timeout, 0.05, on_spare, function() task.sleep(30) end)
  t.ok(not ok and err.kind == "timeout", "task.timeout bounds a wait on a spare")
end

-- A provider-style wait: every check on a spare, the timeout error as poll.wait's.
do
  local checks = 0
  local v = poll._wait_on_spare(function()
    checks = checks + 1
    task.sleep(0)
    return checks >= 3 and "ready", checks
  end, { interval = 0.001, jitter = 0 })
  t.is(v, "ready", "poll._wait_on_spare returns the check's result")
  local ok, err = pcall(poll._wait_on_spare, function() task.sleep(0) return false, "last" end,
    { interval = 0.01, timeout = 0.05, what = "a thing" })
  t.ok(not ok and err.kind == "timeout" and err.last == "last", "and times out with the last value")
  t.like(err.message, "timed out after 50ms waiting for a thing", "naming what it waited for")
end

t.done()
