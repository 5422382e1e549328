-- Issue 9, items 7 and 10: no request held behind another on plain http, bodiless
-- methods sent without a form Content-Type, Retry-After digits only, out-of-range
-- settings refused cleanly, and no Request leaked when its spec is refused (the leak and
-- the out-of-bounds reads show under tests/sanitize.sh, which runs this file on ASan+UBSan).
local t = require "tap"
local sandbox = require "sandbox"
local support = require "core_support"

local base = sandbox.start()

-- A second server on another port (the same emulator), stopped at the end.
local function second_server()
  local p = assert(io.popen("echo $$; exec python3 tests/sandbox/server.py --exit-with-parent --seed 43", "r"))
  local pid, url = p:read("l"), p:read("l")
  assert(url and url:match("^http://127%.0%.0%.1:%d+$"), "second sandbox did not start")
  return url, function() os.execute("kill " .. pid .. " 2>/dev/null") p:close() end
end

-- 7. A fast request is not held behind a slow one: on a host with no open connection
-- yet, and on a second port, while the slow one takes 3 s. Checked in a child, which
-- starts with no connection at all.
local base2, stop2 = second_server()
support.child("item 7 (no request held behind a slow one)", [[
local BASE2 = os.getenv("CORE_TEST_BASE2")
local function timed(url) local t0 = task.now() http.get(url, { retry = false }) return task.now() - t0 end
local slow = task.spawn(timed, BASE .. "/_/echo?tag=slow&delay=3")
local fast = task.spawn(timed, BASE .. "/_/echo?tag=fast")
local other = task.spawn(timed, BASE2 .. "/_/echo?tag=other")
local f, o, s = task.wait(fast), task.wait(other), task.wait(slow)
check(s >= 2.9, "the slow request took its 3 s", s)
check(f < 1, ("a fast request to the same host, none connected yet, is not held behind it (%.2fs)"):format(f), f)
check(o < 1, ("a fast request to a second port is not held behind it (%.2fs)"):format(o), o)
-- Now with a connection open and busy: the next request to the host still goes at once.
slow = task.spawn(timed, BASE .. "/_/echo?tag=slow2&delay=3")
task.sleep(0.2)
f = timed(BASE .. "/_/echo?tag=fast2")
check(f < 1, ("with the only connection busy, a new request goes at once (%.2fs)"):format(f), f)
task.wait(slow)
]], { base = base, env = { CORE_TEST_BASE2 = base2 } })
stop2()

-- 10. Bodiless DELETE and OPTIONS carry no Content-Type (they are no form posts).
for _, method in ipairs { "DELETE", "OPTIONS" } do
  local echo = http.request { method = method, url = base .. "/_/echo" }:json()
  t.is(echo.method, method, "item 10: " .. method .. " sent")
  t.is(echo.headers["content-type"], nil, "item 10: a bodiless " .. method .. " has no Content-Type")
  t.ok(echo.headers["content-length"] == nil or echo.headers["content-length"] == "0",
    "item 10: and no body")
end
local echo = http.delete(base .. "/_/echo", { json = { id = 1 } }):json()
t.ok(echo.headers["content-type"] == "application/json" and echo.body == '{"id":1}',
  "item 10: a DELETE with a JSON body still sends it")

-- 10. Retry-After is digits or an HTTP date (RFC 9110): "0x3" and "3e0" are not 3 s.
-- A refused value falls back to the backoff (10 ms here); honouring it would wait 3 s.
for _, value in ipairs { "0x3", "3e0", "3.0", "+3", " 3 x" } do
  local t0 = task.now()
  local r = http.get(base .. "/_/echo", { query = { status = 503, retry_after = value, tag = value },
    retry = { attempts = 2, backoff = "10ms", max_backoff = "20ms" } })
  local waited = task.now() - t0
  t.ok(r.attempts == 2 and waited < 1.5,
    ("item 10: Retry-After %q is not a number of seconds (%d attempts, %.2fs)"):format(value, r.attempts, waited))
end
do
  local t0 = task.now()
  local r = http.get(base .. "/_/echo", { query = { status = 503, retry_after = "1" },
    retry = { attempts = 2, backoff = "10ms" } })
  local waited = task.now() - t0
  t.ok(r.attempts == 2 and waited >= 0.95, ("item 10: Retry-After: 1 is still honoured (%.2fs)"):format(waited))
end

-- 10. Out-of-range settings are bad arguments, not overflows.
for _, n in ipairs { 2 ^ 62, math.maxinteger, 2 ^ 31 } do
  local ok, err = pcall(http.configure, { max_host_connections = n })
  t.ok(not ok and tostring(err):find("bad argument #1 to 'configure'", 1, true),
    ("item 10: max_host_connections = %s is a bad argument"):format(tostring(n)))
  if ok then t.diag("  accepted") else t.like(tostring(err), "core_http_test%.lua:%d+:", "item 10: at the caller's line") end
end
t.is(http.get(base .. "/_/echo?tag=after-configure"):json().query.tag, "after-configure",
  "item 10: requests still work after the refused settings")

-- 10. fs.mkdir_p("") is a clean error (it read past its buffer: a child, for ASan).
support.child("item 10 (fs.mkdir_p of an empty path)", [[
local ok, err = pcall(require("evalua.fs").mkdir_p, "")
check(not ok and (tostring(err):find("mkdir_p", 1, true) or tostring(err):find("empty", 1, true)),
  "fs.mkdir_p(\"\") is an error naming the call or the empty path", ok and "no error" or err)
]])

-- 10. A spec the core refuses leaks nothing (LSan, in a child that exits normally).
support.child("item 10 (refused spec, no leak)", [[
local core = require "evalua.sched"
local send = require("evalua.transfer").send
check(send ~= nil, "the core's send entry point is where this test looks for it")
for _ = 1, 3 do
  local ok, err = pcall(send or error, { method = "GET" })
  check(not ok and tostring(err):find("url"), "a spec without a url is refused", err)
end
local r = http.get(BASE .. "/_/echo?tag=afterwards")
check(r:json().query.tag == "afterwards", "the next request is sent as usual")
local s = core.stats()
check(s.requests == 0, "no transfer is left", s.requests)
]], { base = base })

sandbox.stop()
support.cleanup()
t.done()
