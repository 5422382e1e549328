-- Credentials stay with their origin: redirects followed by evalua (core/transfer.c)
-- drop every credential header when they lead to another port or host, refuse to
-- resend a body there or to downgrade https to http, and are refused outright for
-- requests marked same_origin (token endpoints). Two local servers on two ports, and
-- two host names (127.0.0.1 and localhost) for the same address.
local t = require "tap"
local auth = require "evalua.auth"

local p = assert(io.popen("exec python3 tests/redirect/server.py", "r"))
local pid, pa, pb = p:read("l"):match("^(%d+) (%d+) (%d+)$")
assert(pid, "redirect server did not start")
local A = "http://127.0.0.1:" .. pa
local B = "http://127.0.0.1:" .. pb
local B_HOST = "http://localhost:" .. pb

local function go(to, code) return ("%s/go?code=%d&to=%s"):format(A, code or 302, http.urlencode(to)) end

local SECRET_HEADERS = {
  ["authorization"] = "Bearer tok-redirect-1", ["x-api-key"] = "key-redirect-2",
  ["x-secret-key"] = "sec-redirect-3", ["cookie"] = "sid=cookie-redirect-4", ["x-custom-token"] = "custom-5",
}

local function seen_secret(echo)
  for name in pairs(SECRET_HEADERS) do
    if echo.headers[name] then return name end
  end
end

-- Same origin: everything travels.
local res = http.get(go(A .. "/echo"), { headers = SECRET_HEADERS })
local echo = res:json()
t.is(res.status, 200, "a same-origin redirect is followed")
t.is(echo.headers["x-api-key"], "key-redirect-2", "and keeps the credential headers")
t.is(res.redirects, 1, "the response counts the redirect")
t.like(res.url, "/echo$", "and its url is where it ended")

-- Another port, another host name: none of them travels, for every redirect status.
for _, target in ipairs({ B, B_HOST }) do
  for _, code in ipairs({ 301, 302, 303, 307, 308 }) do
    res = http.get(go(target .. "/echo", code), { headers = SECRET_HEADERS })
    echo = res:json()
    t.ok(res.status == 200 and echo.port == tonumber(pb), ("%d to %s is followed"):format(code, target))
    t.is(seen_secret(echo), nil, ("%d to %s: no credential header arrives"):format(code, target))
    t.is(echo.headers["accept"], "application/json", ("%d to %s: accept still travels"):format(code, target))
  end
end

-- An auth provider's header is dropped the same way.
res = http.get(go(B .. "/echo"), { auth = auth.api_key { header = "X-Api-Key", value = "key-provider-6" } })
t.is(res:json().headers["x-api-key"], nil, "an auth provider's header does not follow to another origin")

-- A body is never resent to another origin; 303 and POST-after-302 become a bodiless GET.
local function on_b()
  local n = 0
  for _, e in ipairs(http.get(A .. "/log"):json()) do if e.port == tonumber(pb) then n = n + 1 end end
  return n
end
local before = on_b()
local ok, err = pcall(http.post, go(B .. "/echo", 307), { body = "client_secret=body-secret-7" })
t.ok(not ok and err.kind == "protocol", "307 with a body to another origin is refused")
t.like(tostring(err), "another origin", "saying why")
t.like(tostring(err), "127%.0%.0%.1:" .. pb, "and naming where it pointed")
t.is(on_b(), before, "and nothing reached the other server")
res = http.post(go(A .. "/echo", 307), { body = "same-origin-body" })
echo = res:json()
t.ok(echo.method == "POST" and echo.body == "same-origin-body", "307 within the origin resends method and body")
res = http.post(go(B .. "/echo", 303), { body = "client_secret=body-secret-8" })
echo = res:json()
t.ok(echo.method == "GET" and echo.body == "", "303 to another origin continues as a GET without the body")
res = http.post(go(B .. "/echo", 302), { body = "client_secret=body-secret-9" })
echo = res:json()
t.ok(echo.method == "GET" and echo.body == "", "302 after a POST continues as a GET without the body")

-- same_origin requests (token endpoints) follow no redirect elsewhere at all.
ok, err = pcall(http.request, { method = "POST", url = go(B .. "/echo", 302), body = "x=1", same_origin = true })
t.ok(not ok and err.kind == "protocol" and tostring(err):find("credentials"),
  "a same_origin request refuses a redirect to another origin")

-- The OAuth token request follows no redirect to another origin: its body holds the secret.
local cc = auth.client_credentials { token_url = go(B .. "/echo", 302), client_id = "id-12",
                                     client_secret = "client-secret-13" }
ok, err = pcall(http.get, B .. "/echo", { auth = cc })
t.ok(not ok and tostring(err):find("another origin") ~= nil, "a token endpoint redirecting elsewhere fails clearly")

-- No downgrade from https to http, and other schemes are not followed.
ok, err = pcall(http.get, go("ftp://127.0.0.1/x"))
t.ok(not ok and tostring(err):find("only http and https"), "a redirect to ftp: is refused")

-- A loop ends.
ok, err = pcall(http.get, A .. "/loop")
t.ok(not ok and tostring(err):find("redirect"), "a redirect loop ends with an error")

-- Nothing the tests sent as a credential reached port B, in any request.
local leaked
for _, e in ipairs(http.get(B .. "/log"):json()) do
  if e.port == tonumber(pb) then leaked = leaked or seen_secret(e) or (e.body:find("secret") and "body") end
end
t.is(leaked, nil, "port B never saw a credential header or a secret body")

-- The -v trace shows the Location header and where evalua went with credential
-- parameters masked.
local shell = require "shell"
local to = B .. "/echo?access_token=tok-in-url-10&signature=sig-in-url-11&page=2"
local out = shell.sh(("bin/evalua -v -e 'http.get(%q)'"):format(go(to)))
t.like(out, "< [Ll]ocation: http://127%.0%.0%.1:" .. pb .. "/echo%?", "the trace shows the Location header")
local shown = {}
for line in out:gmatch("[^\n]+") do
  if line:find("^< [Ll]ocation:") or line:find("redirected to") or line:find("^> GET http://127%.0%.0%.1:" .. pb) then
    shown[#shown + 1] = line
  end
end
shown = table.concat(shown, "\n")
t.ok(#shown > 0 and not shown:find("tok-in-url-10", 1, true) and not shown:find("sig-in-url-11", 1, true),
  "with access_token and signature masked in the Location, the redirect note and the next request")
t.like(shown, "page=2", "other parameters shown")

os.execute("kill " .. pid .. " 2>/dev/null")
p:close()
t.done()
