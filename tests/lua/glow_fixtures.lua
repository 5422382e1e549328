-- The Glow fixtures (tests/fixtures/glow/, see its SOURCES.txt), decoded.
local cjson = require "cjson"

return function(name)
  local f = assert(io.open("tests/fixtures/glow/" .. name, "rb"))
  local doc = cjson.decode(f:read("a"))
  f:close()
  return doc
end
