-- fuzz_headers: a response's `headers` table (parse_headers in lua/evalua/http.lua)
-- from any raw header block: names lowercase without ':' or white space, values
-- strings without leading white space.
local http = require "evalua.http"

return function(input)
  local res = setmetatable({ raw_headers = input, body = "", status = 200, url = "http://x/", elapsed = 0 },
                           http.Response)
  local headers = res.headers
  if type(headers) ~= "table" then error("headers is a " .. type(headers), 0) end
  for name, value in pairs(headers) do
    if type(name) ~= "string" or name ~= name:lower() or name:find("[:%s]") or name == "" then
      error(("bad header name %q"):format(tostring(name)), 0)
    end
    if type(value) ~= "string" or value:find("^%s") then
      error(("bad value %q for header %q"):format(tostring(value), name), 0)
    end
  end
  if rawget(res, "headers") ~= headers then error("headers not cached", 0) end
  tostring(res)
end
