-- task: spawn/wait/all/sleep/timeout/cancel, error isolation, user coroutines.
local t = require "tap"

local h = task.spawn(function(a, b) return a + b, "x" end, 1, 2)
local sum, x = task.wait(h)
t.ok(sum == 3 and x == "x", "task.wait returns the task's results")
t.ok(tostring(h):find("task %d+ %(done%)"), "handle prints its state")

local t0 = task.now()
local hs = {}
for i = 1, 50 do hs[i] = task.spawn(function() task.sleep(0.2) return i end) end
local r = task.all(hs)
local elapsed = task.now() - t0
t.ok(#r == 50 and r[50] == 50, "task.all returns results in order")
-- One after another they would take 10 s; a wide bound holds under valgrind.
t.ok(elapsed >= 0.2 and elapsed < 5, ("50 sleeps of 0.2s run concurrently (%.2fs)"):format(elapsed))

local bad = task.spawn(function() error("inner failure") end)
local good = task.spawn(function() task.sleep(0.05) return "fine" end)
local ok, err = pcall(task.wait, bad)
t.ok(not ok and tostring(err):find("inner failure"), "task.wait re-raises the task's error")
t.like(tostring(err), "task_test%.lua:%d+", "the re-raised error carries the task's traceback")
t.is(task.wait(good), "fine", "an error in one task does not kill its sibling")

ok, err = pcall(task.all, { function() return 1 end, function() error({ kind = "x" }) end })
t.ok(not ok and type(err) == "table" and err.kind == "x", "task.all raises the first error after all settle")

ok, err = pcall(task.timeout, 0.1, function() task.sleep(5) end)
t.ok(not ok and err.kind == "timeout", "task.timeout raises a timeout error")
t.like(tostring(err), "timed out after 0%.1s", "timeout message names the duration")
t.is(task.timeout("1s", function() return "quick" end), "quick", "task.timeout returns results in time")

local cleaned = false
local victim = task.spawn(function()
  local _ <close> = setmetatable({}, { __close = function() cleaned = true end })
  task.sleep(10)
end)
task.sleep(0.01)
t.ok(task.cancel(victim), "task.cancel on a sleeping task")
ok, err = pcall(task.wait, victim)
t.ok(not ok and err.kind == "cancelled", "a cancelled task ends with a cancelled error")
t.ok(cleaned, "to-be-closed variables are closed on cancellation")
t.ok(not task.cancel(victim), "cancelling a finished task returns false")

local parent = task.current()
local child = task.spawn(function() return task.current().parent end)
t.is(task.wait(child), parent, "handle.parent is the spawning task")

-- A user's own coroutine.wrap around evalua waits must still work.
local gen = coroutine.wrap(function()
  for i = 1, 3 do
    task.sleep(0.01)
    coroutine.yield(i)
  end
end)
t.ok(gen() == 1 and gen() == 2 and gen() == 3, "coroutine.wrap with task.sleep inside yields values in order")
local co = coroutine.create(function(a) task.sleep(0.01) local b = coroutine.yield(a + 1) return b * 2 end)
local ok1, v1 = coroutine.resume(co, 1)
local ok2, v2 = coroutine.resume(co, 21)
t.ok(ok1 and v1 == 2 and ok2 and v2 == 42, "coroutine.resume forwards evalua's waits")

t.raises(function() task.spawn(42) end, "bad argument #1 to 'spawn' %(function expected, got number%)", "spawn checks its argument")
t.raises(function() task.wait("x") end, "task_test%.lua:%d+: bad argument #1 to 'wait'", "bad argument names the caller's line")
t.raises(function() task.sleep("soon") end, "invalid duration 'soon'", "sleep refuses a bad duration")
t.raises(function() task.sleep(-1) end, "non%-negative", "sleep refuses a negative duration")
t.ok(task.now() > 0 and math.type(task.now()) == "float", "task.now is a float clock")

-- I/O inside a metamethod that cannot yield gets a clear error, not a crash.
local ok3, err3 = pcall(function()
  table.sort({ 3, 2, 1 }, function(a, b) task.sleep(0) return a < b end)
end)
t.ok(not ok3 and tostring(err3):find("cannot wait here"), "waiting where Lua cannot yield is a clear error")
-- Seeded: tasks park at random stack depths on events and semaphores, then everything is
-- woken at once and one by one. Waking must never write to the parked tasks' stacks.
do
  local seed = tonumber(os.getenv("EVALUA_SEED") or "") or 13
  math.randomseed(seed)
  local ev, sem, woke = task.event(), task.semaphore(0), 0
  local function deep(n, fn)
    if n == 0 then return fn() end
    local a, b, c, d = n, n + 1, n + 2, n + 3   -- frames of different sizes
    return deep(n - 1, fn) or (a + b + c + d) * 0
  end
  local parked = {}
  for i = 1, 300 do
    local d = math.random(0, 60)
    parked[i] = task.spawn(function()
      deep(d, function() if i % 2 == 0 then ev:wait() else sem:acquire() end end)
      woke = woke + 1
    end)
  end
  task.sleep(0.01)
  ev:set()
  for _ = 1, 150 do sem:release() end
  task.all(parked)
  t.is(woke, 300, ("300 tasks parked at random depths all woke (seed %d)"):format(seed))
end

-- Many arguments to a task are moved onto its new stack safely.
do
  local args = {}
  for i = 1, 300 do args[i] = i end
  local many = task.spawn(function(...) return select("#", ...), (select(300, ...)) end, table.unpack(args))
  local n, last = task.wait(many)
  t.ok(n == 300 and last == 300, "a task takes 300 arguments")
end

t.done()
