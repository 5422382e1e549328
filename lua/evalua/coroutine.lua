--- Make users' own coroutines safe around evalua's I/O.
-- An evalua wait yields a private marker up to the scheduler. Inside a coroutine the
-- user created, that yield would land in the user's `coroutine.resume` instead; these
-- replacements pass such yields on to the scheduler and resume the inner coroutine
-- with the result, as cqueues and OpenResty do. Other yields behave as usual.
local core = require "evalua.core"

local MARKER = core.MARKER
local resume, yield, create, close = coroutine.resume, coroutine.yield, coroutine.create, coroutine.close

local function forward(co, ok, ...)
  if ok and select("#", ...) > 0 and (...) == MARKER and coroutine.status(co) == "suspended" then
    return forward(co, resume(co, yield(MARKER)))
  end
  return ok, ...
end

local function resume_forwarding(co, ...)
  return forward(co, resume(co, ...))
end

local function unwrap(co, ok, ...)
  if not ok then
    close(co)
    error((...), 0)
  end
  return ...
end

local function wrap(fn)
  local co = create(fn)
  return function(...)
    return unwrap(co, resume_forwarding(co, ...))
  end
end

return { install = function()
  coroutine.resume = resume_forwarding
  coroutine.wrap = wrap
end }
