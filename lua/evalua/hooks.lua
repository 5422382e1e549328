-- Run lifecycle events: providers announce runs (`run_started`, `run_status`,
-- `run_finished`) and the test runner and journal listen, so neither side needs to
-- know the other.
local hooks = {}

-- event -> the list of its listeners. A list is never changed once made: adding or
-- removing a listener makes a new one (copy on write), so `emit` walks a list as it was
-- when the event began whatever its listeners add or remove meanwhile, without copying
-- it on every call (run_status is emitted on every poll of every run).
local listeners = {}

-- Register `fn` for `event`; returns a function that removes it again.
function hooks.on(event, fn)
  assert(type(event) == "string", "hooks.on: event name expected")
  assert(type(fn) == "function", "hooks.on: function expected")
  local old = listeners[event] or {}
  local list = table.move(old, 1, #old, 1, {})
  list[#list + 1] = fn
  listeners[event] = list
  return function()
    local now, kept = listeners[event] or {}, {}
    for _, f in ipairs(now) do
      if f ~= fn then kept[#kept + 1] = f end
    end
    listeners[event] = kept[1] and kept or nil
  end
end

-- Call every listener of `event` in registration order. A listener's error propagates:
-- a journal that cannot record a run must not be ignored.
function hooks.emit(event, ...)
  local list = listeners[event]
  if not list then return end
  for i = 1, #list do list[i](...) end
end

return hooks
