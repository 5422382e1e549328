--- Make users' own coroutines safe around evalua's I/O.
-- An evalua wait yields a private marker up to the scheduler. Inside a coroutine the
-- user created, that yield would land in the user's `coroutine.resume` instead;
-- `sched.resume` (C, in sched.c) passes such yields on to the scheduler and resumes the
-- inner coroutine when the wait is over, as cqueues and OpenResty do, and tells the
-- scheduler which thread runs (for Ctrl-C and deadlines in code that never waits).
-- Other yields behave as usual.
local sched = require "evalua.sched"
local resume, create, close = sched.resume, coroutine.create, coroutine.close

local function unwrap(co, ok, ...)
  if not ok then
    local err = ...
    close(co)
    error(err, 0)
  end
  return ...
end

local function wrap(fn)
  local co = create(fn)
  return function(...)
    return unwrap(co, resume(co, ...))
  end
end

return { install = function()
  coroutine.resume = resume
  coroutine.wrap = wrap
end }
