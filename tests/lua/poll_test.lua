-- poll.wait: returns the first truthy value, backs off, times out with the last value.
local t = require "tap"

local calls, stamps = 0, {}
local v = poll.wait(function()
  calls = calls + 1
  stamps[#stamps + 1] = task.now()
  if calls == 4 then return "ready", 7 end
  return false, "pending " .. calls
end, { interval = 0.02, factor = 5, jitter = 0, timeout = 30 })
t.is(v, "ready", "returns the truthy value")
t.is(calls, 4, "called until truthy")
-- No wall-clock ratio (it fails under valgrind): a sleep never ends early, so each gap is
-- at least its interval, 0.02 x 5^(k-1) s; the first one is far below the last.
local EPS = 0.002
local gap1, gap2, gap3 = stamps[2] - stamps[1], stamps[3] - stamps[2], stamps[4] - stamps[3]
t.ok(gap1 >= 0.02 - EPS and gap2 >= 0.1 - EPS and gap3 >= 0.5 - EPS,
  ("intervals grow by the factor: 0.02, 0.1, 0.5 s at least (%.3f, %.3f, %.3f)"):format(gap1, gap2, gap3))
t.ok(gap1 < 0.4, ("the first interval is the short one (%.3f)"):format(gap1))

local ok, err = pcall(poll.wait, function() return false, { status = "IN_PROGRESS" } end,
  { interval = 0.02, timeout = 0.1, what = "run 4KB000" })
t.ok(not ok and err.kind == "timeout", "times out with a timeout error")
t.like(tostring(err), "timed out after 100ms waiting for run 4KB000", "message says what and how long")
t.is(err.last and err.last.status, "IN_PROGRESS", "the error carries the last value seen")

-- Uncapped, the fourth interval would be 0.02 x 100^3 s and the wait would time out.
local capped = {}
local capped_ok = pcall(poll.wait, function()
  capped[#capped + 1] = task.now()
  return #capped == 5
end, { interval = 0.02, factor = 100, max_interval = 0.05, jitter = 0, timeout = 5 })
local last_gap = capped[#capped] - capped[#capped - 1]
t.ok(capped_ok and last_gap >= 0.05 - EPS and last_gap < 1.5,
  ("max_interval caps the wait (last interval %.3f s, 0.05 s asked)"):format(last_gap))
t.raises(function() poll.wait(function() return true end, { intervall = 1 }) end, "unknown option 'intervall'",
  "unknown options are refused")
t.raises(function() poll.wait("x") end, "bad argument #1 to 'wait'", "check must be a function")
t.done()
