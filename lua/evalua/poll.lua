--- poll: wait for a condition with backoff, bounded by a timeout.
local errors = require "evalua.errors"
local check = require "evalua.check"
local sched = require "evalua.sched"
local task = require "evalua.task"

local poll = {}

local function format_duration(s)
  if s >= 3600 and s % 3600 == 0 then return ("%dh"):format(s // 3600) end
  if s >= 60 and s % 60 == 0 then return ("%dm"):format(s // 60) end
  if s >= 1 then return ("%gs"):format(math.floor(s * 10 + 0.5) / 10) end
  return ("%dms"):format(math.floor(s * 1000 + 0.5))
end
poll.format_duration = format_duration

-- One check under the wait's deadline (it bounds the check's own requests and their
-- Retry-After waits too): pack(true, results...) when the first result is truthy; else nil,
-- whether the deadline passed during the check, and the value a failed check gave after
-- its false (for the timeout error).
local function attempt(condition, deadline)
  local r, expired = task._with_deadline(deadline - sched.now(), condition)
  if expired then return nil, true end
  if not r[1] then error(r[2], 0) end
  if r[2] then return r end
  return nil, false, r.n >= 3, r[3]
end

-- Check, sleep, back off, until the condition holds or the deadline passes. The wait's
-- state is this frame's locals: a waiting task keeps no table for it. While it sleeps a
-- task holds only this frame and its caller's: with `spare`, each check runs on a spare
-- stack (task._on_spare), so the deep frames of a poll's request never become the
-- waiting task's own (Lua keeps a stack at the size it grew to).
local function loop(condition, spare, interval, max_interval, factor, jitter, timeout, what)
  local deadline, now, last = sched.now() + timeout, sched.now, nil
  while true do
    local got, expired, has_last, value
    if spare then got, expired, has_last, value = task._on_spare(attempt, condition, deadline)
    else got, expired, has_last, value = attempt(condition, deadline) end
    if got then return table.unpack(got, 2, got.n) end
    if has_last then last = value end
    local left = deadline - now()
    if expired or left <= 0 then
      errors.raise({
        kind = "timeout", last = last, what = what,
        message = ("timed out after %s waiting for %s"):format(format_duration(timeout), what or "a condition"),
      }, 2)
    end
    sched.sleep(math.min(left, interval * (1 + jitter * (2 * math.random() - 1))))
    interval = math.min(interval * factor, max_interval)
  end
end

local known = { interval = true, max_interval = true, factor = true, jitter = true, timeout = true, what = true }

local function wait(condition, opts, spare)
  if type(condition) ~= "function" then errors.argerror(1, "wait", "function expected, got " .. type(condition)) end
  if opts ~= nil and type(opts) ~= "table" then errors.argerror(2, "wait", "table expected, got " .. type(opts)) end
  opts = opts or {}
  for k in pairs(opts) do
    if not known[k] then errors.argerror(2, "wait", "unknown option '" .. tostring(k) .. "'") end
  end
  -- A tail call: this frame (and `opts`) is not kept while waiting.
  return loop(condition, spare,
    check.duration(opts.interval or 1, 2, "wait", "interval"),
    check.duration(opts.max_interval or 30, 2, "wait", "max_interval"),
    check.number(opts.factor or 1.5, 2, "wait", "factor", 1),
    check.number(opts.jitter or 0.1, 2, "wait", "jitter", 0, 1),
    check.duration(opts.timeout or 300, 2, "wait", "timeout"),
    opts.what)
end

--- poll.wait(check, opts) -> check's first truthy result (and the values after it)
function poll.wait(condition, opts)
  return wait(condition, opts, false)
end

-- The same for evalua's own checks (a provider's poll), each run on a spare stack.
function poll._wait_on_spare(condition, opts)
  return wait(condition, opts, true)
end

return poll
