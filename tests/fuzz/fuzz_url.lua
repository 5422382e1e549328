-- fuzz_url: URLs from users and servers.
--  * http.request{url = input} outside a task must end in one of the documented
--    refusals, never in another error (check_url in lua/evalua/http.lua).
--  * redact.redact_url (core/redact.c), which every URL shown in an error or trace
--    goes through, must mask a password and credential parameters whatever they hold.
local http = require "evalua.http"
local redact = require "evalua.redact"

local expected = {
  "waiting is only possible inside a task",     -- the URL passed check_url
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

local function masked(url, want)
  local got = redact.redact_url(url)
  if got ~= want then error(("redact_url(%q) = %q, expected %q"):format(url, got, want), 0) end
end

return function(input)
  refused { url = input, method = "GET" }
  refused { url = input, method = "POST", query = { q = input, [input] = "v" }, body = input }
  redact.redact_url(input)
  -- The input as a password and as credential values (a C string: no NUL; the
  -- characters that would end the part removed).
  local password = input:gsub("[%z@/?#]", "")
  local value = input:gsub("[%z&#]", "")
  masked("https://u:" .. password .. "@h/p", "https://u:***@h/p")
  masked("https://h/p?a=1&token=" .. value .. "&b=2", "https://h/p?a=1&token=***&b=2")
  masked("http://u:" .. password .. "@h:8/?Client_Secret=" .. value .. "#f", "http://u:***@h:8/?Client_Secret=***#f")
end
