-- fuzz_url: http.request{url = input} outside a task. Every input must end in one of
-- the documented refusals, never in another error.
local http = require "evalua.http"

local expected = {
  "requests can only be made inside a task",   -- the URL passed check_url
  "malformed URL", "unsupported URL scheme",
}

local function refused(opts)
  local ok, err = pcall(http.request, opts)
  if ok then error("http.request returned outside a task", 0) end
  local msg = tostring(err)
  for _, text in ipairs(expected) do
    if msg:find(text, 1, true) then return end
  end
  error("unexpected error: " .. msg, 0)
end

return function(input)
  refused { url = input, method = "GET" }
  refused { url = input, method = "POST", query = { q = input, [input] = "v" }, body = input }
end
