-- fuzz_headers: a response's `headers` table (http_push_headers in core/trace.c, made
-- from the input by fuzz_headers.c as the global `parsed`) from any raw header block:
-- names lowercase without ':' or white space, values strings without leading white
-- space, and every "name: value" line of the input found in it.
return function(input)
  local headers = _G.parsed
  if type(headers) ~= "table" then error("headers is a " .. type(headers), 0) end
  for name, value in pairs(headers) do
    if type(name) ~= "string" or name ~= name:lower() or name:find("[:%s]") or name == "" then
      error(("bad header name %q"):format(tostring(name)), 0)
    end
    if type(value) ~= "string" or value:find("^%s") then
      error(("bad value %q for header %q"):format(tostring(value), name), 0)
    end
  end
  for line in input:gmatch("[^\n]+") do
    local name = line:match("^([^:%s]+):")
    if name and #name < 128 and headers[name:lower()] == nil then
      error(("header %q of the input is missing"):format(name), 0)
    end
  end
end
