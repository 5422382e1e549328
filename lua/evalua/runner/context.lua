-- Who owns the running code. Test bodies, hooks and file chunks run in tasks bound to
-- an owner (a test job or a file); tasks they spawn inherit it through the parent
-- chain, so print() output, soft checks and started runs land with the right test.
local task = require "evalua.task"

local context = {}

local owners = setmetatable({}, { __mode = "k" })

function context.bind(handle, owner)
  owners[handle] = owner
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
    owner.output[#owner.output + 1] = table.concat(parts, "\t", 1, parts.n)
  end
  return function() _G.print = original end
end

return context
