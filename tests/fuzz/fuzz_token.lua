-- fuzz_token: token responses. auth.token_lifetime must follow its documented rule
-- for any JSON object (fetch() only checks that access_token is a string), and
-- auth.jwt_expiry must give a number or nil for any string, and read `exp` back from
-- a JWT whose claims are the input.
local json = require "evalua.json"
local auth = require "evalua.auth"

local NOW = 1700000000
local MAX_PAYLOAD = 64 * 1024        -- core/auth.c ignores longer JWT payloads

local function b64url(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    for j = 1, (c and 4 or b and 3 or 2) do
      local k = (n >> (18 - 6 * (j - 1))) & 63
      out[#out + 1] = alphabet:sub(k + 1, k + 1)
    end
  end
  return table.concat(out)
end

-- A JSON number or numeric string ("1700000000000"), when finite.
local function number(v)
  if type(v) ~= "number" and type(v) ~= "string" then return nil end
  local n = tonumber(v)
  if n and n > -math.huge and n < math.huge then return n end
  return nil
end

local function expiry(token)
  local exp = auth.jwt_expiry(token)
  if exp ~= nil and (type(exp) ~= "number" or not number(exp)) then
    error("jwt_expiry returned " .. tostring(exp), 0)
  end
  return exp
end

-- The rule as documented: expires_in, else the JWT's exp, else issued_at (ms) + 30 min, else 30 min.
local function documented_lifetime(doc)
  if number(doc.expires_in) then return number(doc.expires_in) end
  local exp = type(doc.access_token) == "string" and expiry(doc.access_token)
  if exp then return exp - NOW end
  if number(doc.issued_at) then return number(doc.issued_at) / 1000 + 1800 - NOW end
  return 1800
end

return function(input)
  expiry(input)
  local ok, doc = pcall(json.decode, input)
  if not ok or type(doc) ~= "table" then return end
  local life, want = auth.token_lifetime(doc, NOW), documented_lifetime(doc)
  if life ~= want then error(("token_lifetime = %s, documented rule gives %s"):format(life, want), 0) end
  local payload = b64url(input)
  local exp = expiry("eyJhbGciOiJSUzI1NiJ9." .. payload .. ".c2ln")
  want = #payload <= MAX_PAYLOAD and number(doc.exp) or nil
  if exp ~= want then
    error(("jwt_expiry of a JWT with these claims = %s, expected %s"):format(exp, want), 0)
  end
end
