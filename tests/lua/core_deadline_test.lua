-- Issue 9, items 10 (a timeout bounds one attempt only) and 13 (run:wait{timeout} is not a
-- bound; tiny timeouts mean none; absurd counts allocate without end): `deadline` bounds a
-- whole call, attempts and Retry-After waits together; `timeout` stays per attempt.
-- Times are loop times (task.now()), with margins far from what the broken core takes.
local t = require "tap"
local sandbox = require "sandbox"
local support = require "core_support"
local errors = require "evalua.errors"

local base = sandbox.start()
local ECHO = base .. "/_/echo"

-- pcall fn; ok, error or result, loop seconds it took
local function timed(fn, ...)
  local t0 = task.now()
  local ok, res = pcall(fn, ...)
  return ok, res, task.now() - t0
end

local function is_deadline(ok, err)
  return not ok and errors.is(err, "timeout") and tostring(err):find("deadline") ~= nil
end

-- 10. GET with timeout = 0.5 and Retry-After: 2 took 6 s. With a deadline of 1 s, the 2 s
-- wait would pass it: the call fails at once, saying so.
do
  local ok, err, took = timed(http.request, { url = ECHO .. "?status=503&retry_after=2&tag=ra", timeout = 0.5,
    deadline = 1, retry = { attempts = 4, backoff = "10ms" } })
  t.ok(is_deadline(ok, err), "item 10: a Retry-After wait past the deadline is a timeout error naming the deadline")
  t.ok(is_deadline(ok, err) and took < 0.5, ("item 10: raised at once, not after the wait (%.2fs)"):format(took))
  if ok then t.diag("  returned " .. tostring(err)) else t.diag("  " .. tostring(err)) end
end

-- The deadline bounds all attempts and their backoff together.
do
  local ok, err, took = timed(http.get, base .. "/_/flaky", { query = { key = "dl", fail = 100, status = 503 },
    deadline = "1s", retry = { attempts = 20, backoff = "300ms", max_backoff = "300ms" } })
  t.ok(is_deadline(ok, err), "deadline: retries that would outlast it end in a timeout error naming the deadline")
  t.ok(is_deadline(ok, err) and took < 1.6, ("deadline: within the deadline, not after 20 attempts (%.2fs)"):format(took))
end

-- An attempt still in flight at the deadline is stopped there.
do
  local ok, err, took = timed(http.get, ECHO .. "?delay=5&tag=inflight", { timeout = 10, deadline = 1, retry = false })
  t.ok(not ok and errors.is(err, "timeout"), "deadline: an attempt in flight at the deadline is a timeout")
  t.ok(took >= 0.9 and took < 2.5, ("deadline: stopped at the deadline (%.2fs)"):format(took))
end

-- timeout stays per attempt: three attempts of 0.3 s each inside a deadline of 10 s.
do
  local ok, err, took = timed(http.get, ECHO .. "?delay=2&tag=perattempt", { timeout = 0.3, deadline = 10,
    retry = { attempts = 3, backoff = "10ms", max_backoff = "20ms" } })
  t.ok(not ok and errors.is(err, "timeout") and err.attempts == 3, "timeout is per attempt: 3 attempts timed out")
  t.ok(not ok and not is_deadline(ok, err) and not tostring(err):find("unknown option", 1, true),
    "and the error is not about the deadline")
  t.ok(took >= 0.85 and took < 2, ("and together they took about 3 x 0.3 s (%.2fs)"):format(took))
end

-- A deadline that is not a duration is a bad argument at the caller's line.
t.raises(function() http.get(ECHO, { deadline = "soon" }) end,
  "core_deadline_test%.lua:%d+: bad argument #2 to 'get' %(.*invalid duration 'soon'",
  "deadline: a bad value is a bad argument")
t.raises(function() http.configure { deadline = -1 } end, "bad argument #1 to 'configure' %(.*non%-negative",
  "deadline: http.configure refuses a negative one")

-- A default deadline for every call (child: the setting is process-wide).
support.child("deadline (http.configure)", [[
local errors = evalua.errors
http.configure { deadline = "1s", retry = { attempts = 4, backoff = "10ms" } }
local t0 = task.now()
local ok, err = pcall(http.get, BASE .. "/_/echo?status=429&retry_after=3&tag=default")
local took = task.now() - t0
check(not ok and errors.is(err, "timeout") and tostring(err):find("deadline"),
  "http.configure{deadline} bounds every call", err)
check(took < 0.5, ("at once (%.2fs)"):format(took))
local r = http.get(BASE .. "/_/echo?tag=quick")
check(r.status == 200, "a quick call is not affected")
]], { base = base })

-- 13. Timeouts of 0 or under 1 ms are no "no timeout": they are refused or time out.
for _, v in ipairs { 0, 0.0005, "0.5ms" } do
  local ok, err, took = timed(http.get, ECHO .. "?delay=3&tag=tiny", { timeout = v, retry = false })
  t.ok(not ok and (errors.is(err, "timeout") or tostring(err):find("bad argument", 1, true))
    and took < 1.5, ("item 13: timeout = %s is a bad argument or times out, never none (%.2fs)")
    :format(tostring(v), took))
end

-- 13. run:wait{timeout} is a true bound: a 429 poll asking for 60 s, a poll taking 20 s.
local KAPSO = [[
local kapso = require "evalua.kapso"
local errors = evalua.errors
local ks = kapso.connect { base_url = BASE .. "/kapso/api/v1", api_key = "kapso-test-key" }
local run = ks:start("ca5e0000-0000-4000-8000-000000000001")
http.post(BASE .. "/_control/faults", { json = { rules = { FAULT } } })
local t0 = task.now()
local ok, err = pcall(run.wait, run, { timeout = "2s", interval = "50ms" })
local took = task.now() - t0
http.request { method = "DELETE", url = BASE .. "/_control/faults" }
check(not ok and errors.is(err, "timeout"), "run:wait{timeout = 2s} ends with a timeout error", err)
check(took < 3.5, ("within its 2 s, not at the server's pace (%.2fs)"):format(took))
]]
sandbox.control("config", { run_seconds = 30 })
support.child("item 13 (429 Retry-After: 60)", KAPSO:gsub("FAULT",
  '{ path = "/test_runs/[^/]+$", method = "GET", status = 429, retry_after = "60", times = 1000 }', 1),
  { base = base, secs = 15 })
support.child("item 13 (a poll taking 20 s)", KAPSO:gsub("FAULT",
  '{ path = "/test_runs/[^/]+$", method = "GET", action = "delay", delay = 20, times = 1000 }', 1),
  { base = base, secs = 15 })
sandbox.control("config", { run_seconds = 0.5 })

-- 13. concurrency = 1e9 is refused or capped, never allocated (the child's memory is
-- bounded so that the broken behaviour fails instead of exhausting the machine).
support.child("item 13 (concurrency = 1e9)", [[
local glow = require "evalua.glow"
local gl = glow.connect { base_url = BASE .. "/glow", token = "glow-test-token",
  wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" } }
local test_id = gl:create("b3e1a7c0-0000-4000-8000-000000000001")
local ok, res = pcall(gl.grade_pending, gl, test_id, function() return { passed = true } end,
  { concurrency = 1e9, limit = 2 })
check((ok and #res <= 2) or (not ok and tostring(res):find("bad argument #3 to 'grade_pending'", 1, true)),
  "grade_pending{concurrency = 1e9} is a bad argument or capped", res)
collectgarbage()
check(collectgarbage("count") < 64 * 1024, ("and Lua holds little memory (%.0f KB)"):format(collectgarbage("count")))
]], { base = base, secs = 30, env = { ASAN_OPTIONS = (os.getenv("ASAN_OPTIONS") or "") .. ":hard_rss_limit_mb=1500" },
      -- ASan reserves terabytes of address space: its own RSS limit instead of ulimit -v.
      prefix = "ldd bin/evalua 2>/dev/null | grep -q libasan || ulimit -v 3000000;" })

sandbox.stop()
support.cleanup()
t.done()
