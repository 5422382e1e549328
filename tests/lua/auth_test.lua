-- auth: static providers, token lifetimes, and the client-credentials flow against the
-- sandbox's Salesforce token endpoint: cache, one refresh at a time, 401 replay, errors.
local t = require "tap"
local sandbox = require "sandbox"

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
sandbox.stop()
t.done()
