-- auth: static providers, token lifetimes, and the client-credentials flow against the
-- sandbox's Salesforce token endpoint: cache, one refresh at a time, 401 replay, errors.
local t = require "tap"
local sandbox = require "sandbox"
local errors = evalua.errors

-- Lifetimes (the token cache lives in the C core).
local function jwt(claims)
  local function b64url(s)
    local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    local out = {}
    for i = 1, #s, 3 do
      local a, b, c = s:byte(i, i + 2)
      local n = (a << 16) | ((b or 0) << 8) | (c or 0)
      for j = 0, (c and 3) or (b and 2) or 1 do
        local v = (n >> (18 - 6 * j)) & 63
        out[#out + 1] = alphabet:sub(v + 1, v + 1)
      end
    end
    return table.concat(out)
  end
  return b64url('{"alg":"none"}') .. "." .. b64url(json.encode(claims)) .. ".sig"
end
local now = 1700000000
t.is(auth.jwt_expiry(jwt { exp = now + 600 }), now + 600, "JWT exp claim read")
t.is(auth.jwt_expiry("not-a-jwt"), nil, "not a JWT: nil")
t.is(auth.jwt_expiry("a.!!!.c"), nil, "bad base64: nil")
t.is(auth.token_lifetime({ expires_in = 120, access_token = jwt { exp = now + 600 } }, now), 120,
  "expires_in wins")
t.is(auth.token_lifetime({ access_token = jwt { exp = now + 600 } }, now), 600, "else the JWT's exp")
t.is(auth.token_lifetime({ access_token = "opaque", issued_at = tostring((now - 100) * 1000) }, now), 1700,
  "else issued_at (epoch ms) + 30 min")
t.is(auth.token_lifetime({ access_token = "opaque" }, now), 1800, "else 30 minutes")

-- Static providers.
local spec = { headers = {} }
auth.api_key { headers = { ["X-Api-Key"] = "key-1234", ["X-Secret-Key"] = "sec-5678" } }:apply(spec)
t.ok(spec.headers["x-api-key"] == "key-1234" and spec.headers["x-secret-key"] == "sec-5678", "multi-header api key")
spec = { headers = {} }
auth.bearer("tok-abcdef"):apply(spec)
t.is(spec.headers.authorization, "Bearer tok-abcdef", "bearer")
t.is(evalua.redact("x tok-abcdef y key-1234"), "x *** y ***", "provider secrets are redacted")
t.is(evalua.redact("nothing secret here"), "nothing secret here", "a text without secrets comes back as it is")
t.is(evalua.redact(""), "", "an empty text")
t.is(evalua.redact(42), "42", "a number as its text")
t.is(evalua.redact("tok-abcdef"), "***", "a text that is all secret")
t.is(evalua.redact(("a"):rep(500) .. "key-1234"), ("a"):rep(500) .. "***", "a secret at the end of a long text")
t.raises(function() auth.api_key { header = "X-Key" } end, "bad argument #1 to 'api_key' %('value' must be", "missing value")
t.raises(function() auth.bearer(nil) end, "bad argument #1 to 'bearer'", "bearer needs a token")
t.raises(function() auth.client_credentials { token_url = "x", client_id = "a", client_secret = "bbbb" } end,
  "token_url must be an http%(s%) URL", "client_credentials checks token_url")
t.raises(function() auth.client_credentials { token_url = "http://x/", client_id = "a", client_secret = "bbbb", scop = 1 } end,
  "unknown option 'scop'", "client_credentials refuses unknown options")

-- The flow, against the sandbox.
local base = sandbox.start()
local function token_requests()
  local n = 0
  for _, r in ipairs(sandbox.control("requests").requests) do
    if r.path == "/sf/services/oauth2/token" then n = n + 1 end
  end
  return n
end
local sf = auth.client_credentials {
  token_url = base .. "/sf/services/oauth2/token", client_id = "sandbox-client-id",
  client_secret = "sandbox-client-secret",
}
local api = base .. "/sfi/services/data/v63.0/einstein/ai-evaluations/runs/4KBnope"
local hs = {}
for i = 1, 50 do hs[i] = task.spawn(function() return http.get(api, { auth = sf }).status end) end
local statuses = task.all(hs)
t.ok(statuses[1] ~= 401 and statuses[50] ~= 401, "requests carry a valid token (status " .. statuses[1] .. ")")
t.is(token_requests(), 1, "50 concurrent requests: one token request")
t.is(sf:instance_url(), base .. "/sfi", "instance_url from the token response")
http.get(api, { auth = sf })
t.is(token_requests(), 1, "the token is cached")

sandbox.control("expire-tokens", {})
local res = http.get(api, { auth = sf })
t.ok(res.status ~= 401, "an expired token: refreshed and the request replayed")
t.is(token_requests(), 2, "exactly one refresh")

local bad = auth.client_credentials {
  token_url = base .. "/sf/services/oauth2/token", client_id = "sandbox-client-id", client_secret = "wrong-secret",
}
local ok, err = pcall(http.get, api, { auth = bad })
t.ok(not ok and err.kind == "auth" and err.status == 400, "refused credentials: auth error with the status")
t.like(tostring(err), "invalid client credentials", "the token endpoint's error_description, verbatim")
t.is(err.vendor_code, "invalid_client", "and its error code")
t.ok(not tostring(err):find("wrong-secret", 1, true), "the client secret is not in the error")

sandbox.control("faults", { rules = { { path = "^/sf/services/oauth2/token$", times = 10, status = 503 } } })
local down = auth.client_credentials {
  token_url = base .. "/sf/services/oauth2/token", client_id = "other-client", client_secret = "other-secret",
}
ok, err = pcall(http.get, api, { auth = down })
t.ok(not ok and err.kind == "auth" and err.status == 503, "token endpoint down: auth error after retries, status 503")
local function no_faults() http.request { method = "DELETE", url = base .. "/_control/faults", retry = false } end

-- A token already expired when issued is an auth error naming the token endpoint, not a
-- "concatenate a nil value" crash (issue 9, item 8).
local token_url = base .. "/sf/services/oauth2/token"
local function issuing(body, id)
  no_faults()
  sandbox.control("faults", { rules = { { path = "^/sf/services/oauth2/token$", times = 1, status = 200, body = body } } })
  return auth.client_credentials { token_url = token_url, client_id = id, client_secret = "s3cret-" .. id }
end
ok, err = pcall(http.get, api, { auth = issuing({ access_token = "tok-zero-lifetime", expires_in = 0 }, "zero") })
t.ok(not ok and errors.is(err, "auth") and err.url == token_url, "expires_in: 0 -> an auth error for the token URL")
t.like(tostring(err), "already expired %(expires_in: 0%)", "which says why")
ok, err = pcall(http.get, api, { auth = issuing({ access_token = jwt { exp = os.time() - 120 } }, "past") })
t.ok(not ok and errors.is(err, "auth") and err.url == token_url, "a JWT whose exp is past -> an auth error")
t.like(tostring(err), "JWT exp is 1[12]%d s in the past", "which names the clock")

-- An endpoint that echoes the form it was sent: the secret is URL-encoded there.
local odd = "Odd$ecret+With%Chars&'\"<>"
no_faults()
sandbox.control("faults", { rules = { { path = "^/sf/services/oauth2/token$", times = 1, status = 401,
  body = { error = "invalid_client", error_description = "bad request grant_type=client_credentials&client_secret="
    .. odd:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end) } } } })
ok, err = pcall(http.get, api, { auth = auth.client_credentials {
  token_url = token_url, client_id = "echo", client_secret = odd } })
local encoded = odd:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
t.ok(not ok and errors.is(err, "auth"), "an echoing token endpoint: auth error")
t.ok(not tostring(err):find(encoded, 1, true) and not err.message:find(encoded, 1, true)
  and not err.vendor_message:find(encoded, 1, true), "the URL-encoded secret is masked in the error and its fields")
t.like(err.vendor_message, "client_secret=%*%*%*", "as ***")
no_faults()

-- A vendor 401 that echoes the request's headers: the key is masked in the error, its
-- message and vendor_message, whatever the case the vendor echoes it in.
local key = "Kapso-K3y&<\"'>$%+Mixed"
no_faults()
sandbox.control("faults", { rules = { { path = "^/kapso/", times = 1, status = 401,
  body = { error = "unauthorized", message = "bad key in headers {\"x-api-key\": \"" .. key:lower() .. "\"} "
    .. key:upper() .. " " .. key } } } })
ok, err = pcall(function()
  require("evalua.kapso").connect({ base_url = base .. "/kapso/api/v1", api_key = key })
    :start("ca5e0000-0000-4000-8000-000000000001")
end)
t.ok(not ok and errors.is(err), "a vendor 401 echoing the key: a structured error")
local shown = tostring(err) .. (err.message or "") .. (err.vendor_message or "")
t.ok(not shown:find(key, 1, true) and not shown:find(key:lower(), 1, true) and not shown:find(key:upper(), 1, true)
  and not shown:find(json.encode(key:lower()):sub(2, -2), 1, true), "the key is in none of its forms")
t.like(err.vendor_message or "", "^bad key in headers .*%*%*%*", "the vendor's message is kept, the key masked")
no_faults()

-- Tokens leave the redaction set after their last use: once replaced, expired and no
-- request sent with them is left (every refresh used to add one for good).
sandbox.control("config", { token_ttl = 2 })
local short = auth.client_credentials { token_url = token_url, client_id = "sandbox-client-id",
  client_secret = "sandbox-client-secret" }
http.get(api, { auth = short })
local first = short:token()
local held = { headers = {} }
short:apply(held)                                 -- a request still in flight with it
local registered = require("evalua.redact").count()
t.is(evalua.redact(first), "***", "a live token is masked")
task.sleep(short.lifetime + 0.2)
http.get(api, { auth = short })
local second = short:token()
t.ok(second ~= first, "the expired token was replaced")
t.is(evalua.redact(first), "***", "an expired token is still masked while a request holds it")
held = nil -- luacheck: ignore 311
collectgarbage()
collectgarbage()
t.is(evalua.redact(first), first, "and leaves the set after its last use")
t.is(evalua.redact(second), "***", "the new token is masked")
t.is(require("evalua.redact").count(), registered, "the set does not grow with refreshes")
sandbox.stop()
t.done()
