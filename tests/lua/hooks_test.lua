-- Lifecycle events (evalua.hooks): listeners in registration order, a listener that
-- removes itself (or a neighbour) or adds one while an event is emitted does not change
-- who hears that event, removal takes every registration of the function, errors propagate.
local t = require "tap"
local hooks = require "evalua.hooks"

local heard = {}
local function listener(name) return function(x) heard[#heard + 1] = name .. ":" .. tostring(x) end end

local a, b = listener("a"), listener("b")
local off_a = hooks.on("ev", a)
local off_b = hooks.on("ev", b)
hooks.emit("ev", 1)
t.is_deeply(heard, { "a:1", "b:1" }, "listeners are called in registration order with the arguments")

-- A listener removing itself does not make its neighbour miss the event.
heard = {}
local off_self
off_self = hooks.on("ev2", function() heard[#heard + 1] = "self"; off_self() end)
hooks.on("ev2", listener("next"))
hooks.emit("ev2", "x")
t.is_deeply(heard, { "self", "next:x" }, "a listener that removes itself: the next one still hears the event")
heard = {}
hooks.emit("ev2", "y")
t.is_deeply(heard, { "next:y" }, "and it is not called again")

-- One removing a later listener, or adding one, during an emit: that emit is as it began.
heard = {}
local off_late
hooks.on("ev3", function()
  heard[#heard + 1] = "first"
  if off_late then off_late(); off_late = nil end
  hooks.on("ev3", listener("added"))
end)
off_late = hooks.on("ev3", listener("late"))
hooks.emit("ev3", 1)
t.is_deeply(heard, { "first", "late:1" }, "removal and addition during an emit take effect from the next one")
heard = {}
hooks.emit("ev3", 2)
t.is_deeply(heard, { "first", "added:2" }, "the next emit sees them")

-- Removing takes every registration of the function; removing twice is harmless.
heard = {}
local twice = listener("twice")
local off_twice = hooks.on("ev4", twice)
hooks.on("ev4", twice)
hooks.emit("ev4", 1)
t.is(#heard, 2, "a function registered twice is called twice")
off_twice()
off_twice()
heard = {}
hooks.emit("ev4", 2)
t.is(#heard, 0, "its remover takes both")
hooks.emit("nobody", 1)
t.ok(true, "an event nobody listens to is no error")

-- Errors propagate to the emitter.
local off_err = hooks.on("ev5", function() error("journal full", 0) end)
local ok, err = pcall(hooks.emit, "ev5")
t.ok(not ok and err == "journal full", "a listener's error reaches the emitter")
off_err()
off_a()
off_b()
heard = {}
hooks.emit("ev", 3)
t.is(#heard, 0, "every listener removed")

t.done()
