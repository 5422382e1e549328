-- http against the sandbox's generic endpoints: requests, responses, retries,
-- Retry-After, transport errors, limits, and concurrency.
local t = require "tap"
local sandbox = require "sandbox"

local base = sandbox.start()
local fast = { attempts = 4, backoff = "10ms", max_backoff = "50ms" }

local r = http.post(base .. "/_/echo", {
  query = { q = "a b", n = 1 }, headers = { ["X-Custom"] = "yes" }, json = { hello = "world", list = json.array() },
})
t.is(r.status, 200, "POST echo answers 200")
local echo = r:json()
t.is(echo.method, "POST", "method sent")
t.is(echo.query.q, "a b", "query encoded and decoded")
t.is(echo.headers["x-custom"], "yes", "custom header sent")
t.is(echo.headers["content-type"], "application/json", "json body sets content-type")
t.is(echo.body, '{"hello":"world","list":[]}', "json body encoded, empty array kept")
t.is(r:json(), echo, "json() is decoded once and cached")
t.ok(r.headers["content-type"]:find("json"), "response headers have lowercase names")
t.ok(r.elapsed > 0 and r.elapsed < 5, "elapsed is in seconds")
t.is(r.url, base .. "/_/echo?n=1&q=a%20b", "url is the effective URL")
t.ok(r:ok(), "ok() for 2xx")
-- Fields are made from the transfer on first use; the body read first, then decoded.
r = http.get(base .. "/_/json")
t.is(r.body, '{"status":"IN_PROGRESS","ok":true}', "body read before json()")
t.ok(r:json().ok == true and r.attempts == 1 and r.redirects == nil and r.method == "GET",
  "json() after body, attempts, no redirects, the method")
t.like(tostring(r), "^HTTP 200 from " .. base:gsub("%p", "%%%0") .. "/_/json %(%d+ bytes, %d+ ms%)$", "tostring")

do -- pairs(res) lists every field, made now, and nothing private
  local res, seen = http.get(base .. "/_/json"), {}
  res:json()
  for k, v in pairs(res) do seen[#seen + 1] = type(k) == "string" and k or ("<" .. type(k) .. ">"); t.ok(v ~= nil) end
  table.sort(seen)
  t.is(table.concat(seen, " "), "attempts body elapsed headers method raw_headers status url",
    "pairs(res): the fields, not the Request key or the json() cache")
end

-- decode = "json": the body is decoded as it arrives and not kept.
local items = {}
for i = 1, 3000 do items[i] = { i = i, name = "case " .. i, tags = json.array(), score = i / 4 } end
r = http.post(base .. "/_/echo", { json = { items = items }, decode = "json" })
local got = r:json().json
t.ok(#got.items == 3000 and got.items[3000].i == 3000 and math.type(got.items[7].i) == "integer"
  and json.is_array(got.items[1].tags) and got.items[2].score == 0.5,
  "decode = \"json\": a document of ~200 kB decoded as it arrived (integers, empty arrays)")
local plain_r = http.post(base .. "/_/echo", { json = { items = items } })
t.is(json.encode(r:json(), { sort_keys = true }), json.encode(plain_r:json(), { sort_keys = true }),
  "the same value as decoding the whole body")
local read_ok, read_err = pcall(function() return r.body end)
t.ok(not read_ok and tostring(read_err):find("decoded as it arrived", 1, true), "its body is not kept, and reading it says so")
t.like(tostring(r), "^HTTP 200 from .* %(%d+ bytes", "tostring still gives the size")
r = http.get(base .. "/_/chunked?n=300&size=1000&json=1", { decode = "json" })
t.is(#r:json().data, 300 * 1000 - 11, "a 300 kB string that spans every chunk")
r = http.get(base .. "/_/slow?chunks=20&interval=0.01", { decode = "json" })
t.ok(r:json().data ~= nil, "a body that arrives in 20 pieces")
for _, case in ipairs {
  { "/_/truncated-json", "unexpected end" },
  { "/_/html", "invalid token" },
  { "/_/deep?depth=1001", "too many nested" },
} do
  local e1 = select(2, pcall(function() return http.get(base .. case[1], { decode = "json" }):json() end))
  local e2 = select(2, pcall(function() return http.get(base .. case[1]):json() end))
  t.ok(tostring(e1):find(case[2]) and tostring(e1) == tostring(e2),
    ("decode = \"json\" of %s: the same error as decoding the whole body"):format(case[1]))
  if tostring(e1) ~= tostring(e2) then t.diag(tostring(e1) .. "\n" .. tostring(e2)) end
end
r = http.get(base .. "/_/status/404", { decode = "json" })
t.ok(r.status == 404 and r.body:find("404") and r:json().status == 404, "a non-2xx body is kept (error envelopes)")
do
  local _, err = pcall(http.get, base .. "/_/bytes/100000?json=1", { decode = "json", max_body = 1000, retry = false })
  t.like(tostring(err), "larger than the limit of 1000 bytes", "max_body still applies")
  local ok
  ok, err = pcall(http.get, base .. "/_/truncate", { decode = "json", retry = fast })
  t.ok(not ok and err.kind == "protocol" and err.attempts == 4, "a body cut short is retried, each attempt decoded afresh")
  _, err = pcall(http.get, base .. "/_/json", { decode = "xml" })
  t.like(tostring(err), "bad argument #2 to 'get' %(decode must be \"json\"", "decode takes only \"json\"")
end

-- Responses left unread do not pile up memory Lua's collector cannot see: a large body is
-- a Lua string from the start (150 MB of them here; the process must not grow by that).
local function rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match("VmRSS:%s*(%d+)")
  f:close()
  return tonumber(kb)
end
t.ok(type(rawget(http.get(base .. "/_/bytes/100000"), "body")) == "string"
  and rawget(http.get(base .. "/_/json"), "body") == nil, "a 100 kB body is a Lua string at once, a small one not yet")
local maps_file = assert(io.open("/proc/self/maps"))
local maps = maps_file:read("a")
maps_file:close()
if maps:find("libasan", 1, true) then
  t.ok(true, "RSS of unread responses # SKIP AddressSanitizer keeps freed memory in quarantine")
else
  local rss0 = rss_kb()
  for _ = 1, 150 do assert(http.get(base .. "/_/bytes/1000000").status == 200) end
  local grown = (rss_kb() - rss0) // 1024
  t.ok(grown < 80, ("150 unread 1 MB responses: RSS grew by %d MiB, not 150"):format(grown))
end

-- A proxy in the environment is used (handles say "no proxy" only when none is set).
local shell = require "shell"
local out = shell.sh(("http_proxy=http://127.0.0.1:9 bin/evalua -e '"
  .. "local ok, err = pcall(http.get, %q, { retry = false }) print(ok, err.kind)'"):format(base .. "/_/json"))
t.like(out, "^false\tconnect", "http_proxy is honoured: the request goes to the (closed) proxy")

r = http.put(base .. "/_/echo", { form = { a = "1&2", b = "x" } })
t.is(r:json().body, "a=1%262&b=x", "form bodies are URL-encoded")
r = http.delete(base .. "/_/echo")
t.is(r:json().method, "DELETE", "DELETE")
r = http.request { method = "patch", url = base .. "/_/echo", body = "raw" }
t.ok(r:json().method == "PATCH" and r:json().body == "raw", "PATCH with a raw body")

-- Pooled handles keep no method of an earlier request.
local seq = {}
for _, m in ipairs { "head", "get", "post", "get", "delete", "get", "head", "post" } do
  local res = http[m](base .. "/_/echo")
  seq[#seq + 1] = m == "head" and ("HEAD:" .. #res.body) or res:json().method
end
t.is(table.concat(seq, " "), "HEAD:0 GET POST GET DELETE GET HEAD:0 POST", "methods switch cleanly on reused handles")

r = http.get(base .. "/_/status/404")
t.ok(r.status == 404 and not r:ok(), "a 404 is a response, not an error")
r = http.get(base .. "/_/status/500", { retry = fast })
t.ok(r.status == 500 and r.attempts == 1, "500 is not retried")

-- Retries: transient statuses, then success.
r = http.get(base .. "/_/flaky", { query = { key = "a", fail = 2, status = 503 }, retry = fast })
t.ok(r.status == 200 and r.attempts == 3, "503 twice then 200: three attempts")
r = http.get(base .. "/_/flaky", { query = { key = "b", fail = 5, status = 503 }, retry = fast })
t.ok(r.status == 503 and r.attempts == 4, "retries stop after the policy's attempts; the last response is returned")
r = http.get(base .. "/_/flaky", { query = { key = "c", fail = 1, status = 503 }, retry = false })
t.ok(r.status == 503 and r.attempts == 1, "retry = false makes one attempt")
r = http.post(base .. "/_/flaky", { query = { key = "d", fail = 1, status = 502 }, retry = fast })
t.ok(r.status == 502 and r.attempts == 1, "POST is not retried on 502 (it may have been processed)")
r = http.post(base .. "/_/flaky", { query = { key = "e", fail = 1, status = 502 }, retry = { idempotent = true, backoff = "10ms" } })
t.ok(r.status == 200 and r.attempts == 2, "POST marked idempotent is retried")
r = http.post(base .. "/_/flaky", { query = { key = "f", fail = 1, status = 429 }, retry = fast })
t.ok(r.status == 200 and r.attempts == 2, "429 is retried even for POST (not processed)")

local t0 = task.now()
r = http.get(base .. "/_/flaky", { query = { key = "g", fail = 1, status = 429, retry_after = 1 }, retry = fast })
local waited = task.now() - t0
t.ok(r.status == 200 and waited >= 0.95 and waited < 6, ("Retry-After: 1 honoured (%.2fs)"):format(waited))
t0 = task.now()
r = http.get(base .. "/_/status/503", { query = { retry_after_date = 2 }, retry = { attempts = 2, backoff = "10ms" } })
waited = task.now() - t0
t.ok(r.attempts == 2 and waited >= 0.9 and waited < 7, ("Retry-After as an HTTP date honoured (%.2fs)"):format(waited))

-- Transport failures become structured errors.
local ok, err = pcall(http.get, base .. "/_/drop", { retry = fast })
t.ok(not ok and err.kind == "protocol" and err.attempts == 4, "dropped connection: protocol error after retries (GET)")
t.like(tostring(err), "closed the connection without responding", "dropped connection message")
t.is(err.url, base .. "/_/drop", "error names the URL")
ok, err = pcall(http.post, base .. "/_/drop", { retry = fast })
t.ok(not ok and err.attempts == 1, "dropped connection: POST not retried")
-- A POST whose connection drops after it was sent is never sent again, not even by
-- libcurl's own resend on a reused keep-alive connection.
http.get(base .. "/_/echo")
local before = #sandbox.control("requests").requests
sandbox.control("faults", { rules = { { path = "/_/echo$", method = "POST", times = 1, action = "drop" } } })
ok = pcall(http.post, base .. "/_/echo", { json = { start = 1 }, retry = fast })
local posts = 0
for i, req in ipairs(sandbox.control("requests").requests) do
  if i > before and req.method == "POST" and req.path == "/_/echo" then posts = posts + 1 end
end
t.ok(not ok and posts == 1, ("a POST dropped mid-way reaches the server once (%d)"):format(posts))
ok, err = pcall(http.get, base .. "/_/delay/2", { timeout = "200ms", retry = false })
t.ok(not ok and err.kind == "timeout", "slow response: timeout error")
t.like(tostring(err.message), "^Operation timed out after %d+ milliseconds with 0 bytes received$",
  "the timeout says how long and how much arrived")
r = http.get(base .. "/_/delay/2.5", { connect_timeout = "1s", timeout = "20s", retry = false })
t.is(r.status, 200, "connect_timeout does not cut a request that was sent and waits for its answer")
ok, err = pcall(http.get, "http://127.0.0.1:1/", { retry = fast })
t.ok(not ok and err.kind == "connect" and err.attempts == 4 and err.retryable, "connection refused: connect error, retried")
ok, err = pcall(http.get, "http://no-such-host.invalid/", { retry = false })
t.ok(not ok and err.kind == "dns", "unresolvable host: dns error")
ok, err = pcall(http.get, base .. "/_/truncate", { retry = false })
t.ok(not ok and err.kind == "protocol", "truncated body: protocol error")
ok, err = pcall(http.get, base .. "/_/bytes/200000", { max_body = 100000 })
t.ok(not ok and err.kind == "protocol" and tostring(err):find("larger than the limit"), "body over max_body refused")
ok, err = pcall(http.get, base .. "/_/redirect-loop")
t.ok(not ok and tostring(err):find("too many redirects"), "redirect loop stops with an error")
r = http.get(base .. "/_/redirect/3")
t.ok(r.status == 200 and r:json().redirected and r.url:find("/_/redirect/0$"), "redirects are followed")
r = http.get(base .. "/_/html")
ok, err = pcall(r.json, r)
t.ok(not ok and err.kind == "protocol" and tostring(err):find("not JSON") and tostring(err):find("text/html"),
  "an HTML page where JSON was expected: protocol error naming the content type")
r = http.get(base .. "/_/chunked", { query = { n = 50, size = 1000 } })
t.is(#r.body, 50000, "chunked body reassembled")
r = http.get(base .. "/_/bytes/5000000")
t.is(#r.body, 5000000, "large body")
r = http.get(base .. "/_/slow", { query = { chunks = 4, interval = 0.05 } })
t.ok(r.status == 200 and #r.body > 0, "slow body arrives")
ok, err = pcall(http.get, base .. "/_/deep", { query = { depth = 100000 } })
t.ok(ok, "a deeply nested body is still a body")
ok, err = pcall(err.json, err)
t.ok(not ok and tostring(err):find("too many nested"), "decoding 100,000 levels is refused cleanly")

-- Bad arguments name the caller's line.
t.raises(function() http.get(42) end, "http_test%.lua:%d+: bad argument #1 to 'get'", "url must be a string")
t.raises(function() http.get("not a url") end, "malformed URL", "malformed URL")
t.raises(function() http.get("ftp://x/") end, "unsupported URL scheme \"ftp\"", "unsupported scheme")
t.raises(function() http.request { url = base, methd = "GET" } end, "unknown option 'methd'", "unknown option")
t.raises(function() http.request { url = base, body = "a", json = {} } end, "only one of body, json and form", "two bodies")
t.raises(function() http.get(base, { timeout = "fast" }) end, "invalid duration 'fast'", "bad timeout")

-- Concurrency: 200 tasks each doing a request and a sleep take about as long as
-- one of them, not the sum (80 s): the bound is wide enough for valgrind.
t0 = task.now()
local hs = {}
for i = 1, 200 do
  hs[i] = task.spawn(function()
    local res = http.get(base .. "/_/delay/0.2")
    task.sleep(0.2)
    return res.status
  end)
end
local statuses = task.all(hs)
local took = task.now() - t0
local all200 = true
for _, s in ipairs(statuses) do all200 = all200 and s == 200 end
t.ok(all200 and #statuses == 200, "200 concurrent tasks all got 200")
t.ok(took < 20, ("200 x (0.2s request + 0.2s sleep) took %.2fs, not 80s"):format(took))

sandbox.control("reset", {})
t0 = task.now()
hs = {}
for i = 1, 1000 do hs[i] = task.spawn(function() return http.get(base .. "/_/json").status end) end
statuses = task.all(hs)
local n = 0
for _, s in ipairs(statuses) do if s == 200 then n = n + 1 end end
t.is(n, 1000, ("1,000 concurrent GETs complete in one process (%.2fs)"):format(task.now() - t0))
local stats = sandbox.control("stats")
t.ok(stats.max_connections <= 32, ("connections never above the per-host cap (peak %d)"):format(stats.max_connections))

sandbox.stop()
t.done()
