-- Authorized GETs without other options (`http.request{method, url, auth, timeout}`, what a
-- provider's polls send) go out from a template per auth provider that carries its headers
-- (http.lua, auth.lua's stamps). What the request path promised still holds there: the
-- token in use (and a new one after a refresh), one refresh and one replay on a 401,
-- credentials dropped on a redirect to another origin, cancellation and deadlines mid-
-- request, the timeout checked, and a replaced token redacted while a response made with it lives.
local t = require "tap"
local sandbox = require "sandbox"
local auth = require "evalua.auth"
local errors = evalua.errors
local redact = require "evalua.redact"

local base = sandbox.start()
local token_url = base .. "/sf/services/oauth2/token"
local echo = base .. "/_/echo"

local function get(url, provider, timeout)
  return http.request { method = "GET", url = url, auth = provider, timeout = timeout }
end

local function token_requests() return sandbox.posts("^/sf/services/oauth2/token$") end

local function sf(id)
  return auth.client_credentials { token_url = token_url, client_id = id or "sandbox-client-id",
                                   client_secret = "sandbox-client-secret" }
end

-- The token's header, and the accept header, on every request; one token for many.
local cc = sf()
local hs = {}
for i = 1, 20 do hs[i] = task.spawn(function() return get(echo .. "?tag=" .. i, cc):json().headers end) end
local seen = task.all(hs)
t.is(seen[1].authorization, "Bearer " .. cc:token(), "the bearer token is sent")
t.is(seen[20].authorization, seen[1].authorization, "by every request")
t.is(seen[1].accept, "application/json", "with the accept header")
t.is(token_requests(), 1, "20 concurrent requests: one token request")

-- A static provider's headers; a 401 without refresh comes back as the response.
local key = auth.api_key { header = "X-Api-Key", value = "key-template-1" }
t.is(get(echo, key):json().headers["x-api-key"], "key-template-1", "an api key provider's header is sent")
t.is(get(base .. "/_/status/401", key).status, 401, "a 401 for a provider that cannot refresh is the answer")

-- A token that expired on the service (401): refreshed once, the request replayed once.
sandbox.control("expire-tokens", {})
local before = token_requests()
local old = seen[1].authorization
local api = base .. "/sfi/services/data/v63.0/einstein/ai-evaluations/runs/4KBnope"
local res = get(api, cc)
t.ok(res.status ~= 401, "a 401: the token is refreshed and the request replayed (status " .. res.status .. ")")
t.is(token_requests(), before + 1, "exactly one token request")
local now = get(echo, cc):json().headers.authorization
t.ok(now ~= old and now == "Bearer " .. cc:token(), "later requests carry the new token")
-- A 401 that a new token does not cure: replayed once, then the 401 is the answer.
sandbox.control("faults", { rules = { { path = "^/sfi/.*/runs/4KB401$", times = 5, status = 401 } } })
before = token_requests()
res = get(base .. "/sfi/services/data/v63.0/einstein/ai-evaluations/runs/4KB401", cc)
t.is(res.status, 401, "a second 401 is returned, not replayed again")
t.is(token_requests(), before + 1, "after a single refresh")
local hits = 0
for _, r in ipairs(sandbox.control("requests").requests) do
  if r.path:find("/runs/4KB401$") then hits = hits + 1 end
end
t.is(hits, 2, "the request was sent twice in all")
http.request { method = "DELETE", url = base .. "/_control/faults", retry = false }

-- A token that ran out of its lifetime: the next request fetches and carries a new one,
-- and the old one stays redacted while a response made with it is alive.
sandbox.control("config", { token_ttl = 2 })
local short = sf("sandbox-client-id")
local kept = get(echo, short)
local first = short:token()
t.is(kept:json().headers.authorization, "Bearer " .. first, "a short-lived token is sent")
task.sleep(short.lifetime + 0.2)
local renewed = get(echo, short):json().headers.authorization
local second = short:token()
t.ok(second ~= first and renewed == "Bearer " .. second, "once it expired, the next request carries a new token")
collectgarbage()
collectgarbage()
t.is(evalua.redact(first), "***", "the replaced token is still masked while a response sent with it lives")
local registered = redact.count()
kept = nil -- luacheck: ignore 311
collectgarbage()
collectgarbage()
t.is(evalua.redact(first), first, "and leaves the redaction set with that response")
t.is(redact.count(), registered - 1, "the set shrinks by that one token")
t.is(evalua.redact(second), "***", "the token in use is masked")
sandbox.control("config", { token_ttl = 1800 })

-- Cancellation while the request is in flight, and a deadline, on this path.
local started = task.now()
local h = task.spawn(function() return get(echo .. "?tag=cancelled&delay=30", cc) end)
task.sleep(0.2)
task.cancel(h)
local ok, err = pcall(task.wait, h)
t.ok(not ok and errors.is(err, "cancelled"), "a request cancelled mid-flight ends its task as cancelled")
t.ok(task.now() - started < 20, "at once, not when the answer would have come")
ok, err = pcall(task.timeout, 0.3, get, echo .. "?tag=deadline&delay=30", cc)
t.ok(not ok and errors.is(err, "timeout"), "a deadline ends a request in flight with a timeout error")
t.is(get(echo, cc).status, 200, "the template still serves the next request")
ok, err = pcall(get, echo .. "?tag=slow&delay=5", cc, 0.3)
t.ok(not ok and errors.is(err, "timeout"), "the request's own timeout applies")
local all_ok = true
for secs = 1, 12 do all_ok = all_ok and get(echo .. "?tag=t" .. secs, cc, secs + 0.5).status == 200 end
t.ok(all_ok, "requests with a dozen different timeouts (more than the templates kept per provider)")
ok, err = pcall(get, echo, cc, "soon")
t.ok(not ok and tostring(err):find("bad argument #1 to 'request'", 1, true), "a bad timeout is the caller's error")
ok, err = pcall(get, "nope://x", cc)
t.ok(not ok and tostring(err):find("unsupported URL scheme", 1, true), "a bad URL is the caller's error")

-- Errors name the URL and never show the token.
ok, err = pcall(get, "http://127.0.0.1:1/unreachable?access_token=" .. cc:token(), cc)
t.ok(not ok and errors.is(err) and tostring(err):find("127.0.0.1:1", 1, true), "a transport error names the URL")
t.ok(not tostring(err):find(cc:token(), 1, true), "without the token")
sandbox.stop()

-- Redirects: credentials stay with their origin on this path too.
local p = assert(io.popen("exec python3 tests/redirect/server.py", "r"))
local pid, pa, pb = p:read("l"):match("^(%d+) (%d+) (%d+)$")
assert(pid, "redirect server did not start")
local A, B = "http://127.0.0.1:" .. pa, "http://127.0.0.1:" .. pb
local function go(to) return ("%s/go?code=302&to=%s"):format(A, http.urlencode(to)) end
local bearer = auth.bearer("tok-template-redirect")
local same = get(go(A .. "/echo"), bearer)
t.is(same:json().headers.authorization, "Bearer tok-template-redirect", "a same-origin redirect keeps the token")
local other = get(go(B .. "/echo"), bearer)
t.is(other.status, 200, "a redirect to another origin is followed")
t.is(other:json().headers.authorization, nil, "without the authorization header")
t.is(other:json().headers.accept, "application/json", "accept still travels")
t.is(get(A .. "/echo", bearer):json().headers.authorization, "Bearer tok-template-redirect",
  "the template keeps its header for the next request")
os.execute("kill " .. pid)
p:close()
t.done()
