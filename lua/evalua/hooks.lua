-- Run lifecycle events: providers announce runs (`run_started`, `run_status`,
-- `run_finished`) and the test runner and journal listen, so neither side needs to
-- know the other.
local hooks = {}

local listeners = {}

-- Register `fn` for `event`; returns a function that removes it again.
function hooks.on(event, fn)
  assert(type(event) == "string", "hooks.on: event name expected")
  assert(type(fn) == "function", "hooks.on: function expected")
  local list = listeners[event] or {}
  listeners[event] = list
  list[#list + 1] = fn
  return function()
    for i = #list, 1, -1 do
      if list[i] == fn then table.remove(list, i) end
    end
  end
end

-- Call every listener of `event` in registration order. A listener's error propagates:
-- a journal that cannot record a run must not be ignored.
function hooks.emit(event, ...)
  local list = listeners[event]
  if not list then return end
  -- Copy first so that a listener removing itself does not skip its neighbour.
  for _, fn in ipairs(table.move(list, 1, #list, 1, {})) do fn(...) end
end

return hooks
