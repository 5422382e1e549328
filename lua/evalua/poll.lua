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

-- condition()'s results when the first is truthy (packed), else nil and whether it gave
-- a second value, and that value: a failed check allocates nothing.
local function outcome(first, ...)
  if first then return table.pack(first, ...) end
  return nil, select("#", ...) >= 1, (...)
end

-- Check, sleep, back off, until the condition holds. `w` is the wait's state (interval,
-- max_interval, factor, jitter, and the last value a failed check gave, for its timeout
-- error); a thousand waiting runs keep one small table each, not a closure with upvalues.
local function loop(condition, w)
  local interval, random, sleep = w.interval, math.random, sched.sleep
  while true do
    local got, has_last, last = outcome(condition())
    if got then return got end
    if has_last then w.last = last end
    sleep(interval * (1 + w.jitter * (2 * random() - 1)))
    interval = math.min(interval * w.factor, w.max_interval)
  end
end

local known = { interval = true, max_interval = true, factor = true, jitter = true, timeout = true, what = true }

--- poll.wait(check, opts) -> check's first truthy result (and the values after it)
function poll.wait(condition, opts)
  if type(condition) ~= "function" then errors.argerror(1, "wait", "function expected, got " .. type(condition)) end
  if opts ~= nil and type(opts) ~= "table" then errors.argerror(2, "wait", "table expected, got " .. type(opts)) end
  opts = opts or {}
  for k in pairs(opts) do
    if not known[k] then errors.argerror(2, "wait", "unknown option '" .. tostring(k) .. "'") end
  end
  local interval = check.duration(opts.interval or 1, 2, "wait", "interval")
  local max_interval = check.duration(opts.max_interval or 30, 2, "wait", "max_interval")
  local factor = check.number(opts.factor or 1.5, 2, "wait", "factor", 1)
  local jitter = check.number(opts.jitter or 0.1, 2, "wait", "jitter", 0, 1)
  local timeout = check.duration(opts.timeout or 300, 2, "wait", "timeout")
  -- The whole wait, the checks' own requests and their Retry-After waits included, is
  -- bounded by the timeout: it is the task's deadline while the loop runs.
  local w = { interval = interval, max_interval = max_interval, factor = factor, jitter = jitter }
  local r, expired = task._with_deadline(timeout, loop, condition, w)
  local last = w.last
  if expired then
    errors.raise({
      kind = "timeout", last = last, what = opts.what,
      message = ("timed out after %s waiting for %s"):format(format_duration(timeout), opts.what or "a condition"),
    }, 2)
  end
  if not r[1] then error(r[2], 0) end
  return table.unpack(r[2], 1, r[2].n)
end

return poll
