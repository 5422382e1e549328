-- poll.wait: returns the first truthy value, backs off, times out with the last value.
local t = require "tap"

local calls, stamps = 0, {}
local v = poll.wait(function()
  calls = calls + 1
  stamps[#stamps + 1] = task.now()
  if calls == 4 then return "ready", 7 end
  return false, "pending " .. calls
end, { interval = 0.05, factor = 2, jitter = 0, timeout = 5 })
t.is(v, "ready", "returns the truthy value")
t.is(calls, 4, "called until truthy")
local gap1, gap3 = stamps[2] - stamps[1], stamps[4] - stamps[3]
-- Nominally 0.05 then 0.2 s. Each gap also holds the wake-up latency (tens of ms under
-- valgrind on a loaded machine), which their difference cancels: 0.15 s nominal, 0 s
-- without growth.
t.ok(gap3 - gap1 > 0.1, ("intervals grow by the factor (%.3f then %.3f)"):format(gap1, gap3))

local ok, err = pcall(poll.wait, function() return false, { status = "IN_PROGRESS" } end,
  { interval = 0.02, timeout = 0.1, what = "run 4KB000" })
t.ok(not ok and err.kind == "timeout", "times out with a timeout error")
t.like(tostring(err), "timed out after 100ms waiting for run 4KB000", "message says what and how long")
t.is(err.last and err.last.status, "IN_PROGRESS", "the error carries the last value seen")

local capped = {}
poll.wait(function()
  capped[#capped + 1] = task.now()
  return #capped == 5
end, { interval = 0.02, factor = 10, max_interval = 0.03, jitter = 0 })
t.ok(capped[5] - capped[4] < 0.06, "max_interval caps the wait")
t.raises(function() poll.wait(function() return true end, { intervall = 1 }) end, "unknown option 'intervall'",
  "unknown options are refused")
t.raises(function() poll.wait("x") end, "bad argument #1 to 'wait'", "check must be a function")
t.done()
