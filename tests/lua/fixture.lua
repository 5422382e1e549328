-- fixture(path): a JSON document of tests/fixtures/, decoded (shared by the model tests).
local cjson = require "cjson"

return function(path)
  local f = assert(io.open("tests/fixtures/" .. path, "rb"))
  local doc = cjson.decode(f:read("a"))
  f:close()
  return doc
end
