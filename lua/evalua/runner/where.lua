-- Finds the user's line: the first stack frame outside evalua's own library, so that
-- a failure points at the test file, not at the matcher that noticed it.
local errors = require "evalua.errors"

local where = {}

-- file, line of the first frame outside the library, above this function's caller.
function where.user_frame()
  for level = 3, 200 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" and not errors.internal_source(info.source) then
      local file = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
      return file, info.currentline
    end
  end
  return nil, nil
end

return where
