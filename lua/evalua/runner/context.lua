-- Who owns the running code. Test bodies, hooks and file chunks run in tasks bound to
-- an owner (a test job or a file); tasks they spawn inherit it through the parent
-- chain, so print() output, soft checks and started runs land with the right test.
local errors = require "evalua.errors"
local redact = require("evalua.redact").redact
local task = require "evalua.task"

local context = {}

local owners = setmetatable({}, { __mode = "k" })

-- Bind the task to `owner` (nil: unbind); returns the owner it was bound to.
function context.bind(handle, owner)
  local was = owners[handle]
  owners[handle] = owner
  return was
end

-- Append `value` to the owner's list `field` (output, failures, runs), which a test's
-- job makes only when it first needs it: a waiting test keeps no empty lists.
function context.add(owner, field, value)
  local list = owner[field]
  if not list then
    list = {}
    owner[field] = list
  end
  list[#list + 1] = value
end

-- The owner of the running task, or nil outside the runner's tasks.
function context.owner()
  local t = task.current()
  while t do
    local owner = owners[t]
    if owner then return owner end
    t = t.parent
  end
  return nil
end

-- Replace the global print with one that appends to the owner's `output` lines
-- (falling back to the real print outside tests); returns a function restoring it.
function context.capture_print()
  local original = _G.print
  _G.print = function(...)
    local owner = context.owner()
    if not owner then return original(...) end
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    -- masked as it is captured: reports cut, escape and case it later
    context.add(owner, "output", redact(table.concat(parts, "\t", 1, parts.n)))
  end
  return function() _G.print = original end
end

-- Replace os.exit with one that, inside a test (or a test file's top level, a hook or a
-- task they spawn), raises an error instead of ending the process: the test is an error,
-- the others still run and the reports are written. Returns a function restoring it.
function context.trap_exit()
  -- luacheck: push ignore 122 (replacing a standard library field is the point here)
  local original = os.exit
  os.exit = function(code, ...)
    if not context.owner() then return original(code, ...) end
    error(("%sos.exit(%s) called in a test: a test cannot end the evalua process "
      .. "(raise an error or use expect instead)"):format(errors.where(), code == nil and "" or tostring(code)), 0)
  end
  return function() os.exit = original end
  -- luacheck: pop
end

return context
