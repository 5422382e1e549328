-- The verbose trace (readable, secrets redacted) and a valgrind run of an HTTP script.
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"

local base = sandbox.start()

local sh = shell.sh

local script = os.tmpname()
local f = assert(io.open(script, "w"))
f:write(([[
local key = secret("EVALUA_TEST_KEY")
local r = http.get("%s/_/flaky", { query = { key = "trace", fail = 1, status = 503 },
  headers = { ["X-Api-Key"] = key, ["X-Note"] = "carries " .. key }, retry = { backoff = "10ms" } })
print(r.status, r.attempts)
]]):format(base))
f:close()

local out, code = sh("EVALUA_TEST_KEY=sup3r-s3cret-k3y bin/evalua -v " .. script)
t.is(code, 0, "verbose run succeeds")
t.like(out, "> GET " .. base:gsub("%p", "%%%0") .. "/_/flaky%?", "trace shows method and URL")
t.like(out, "< HTTP/1%.1 503", "trace shows the response status line")
t.like(out, "retrying in %d", "trace shows the retry and its delay")
t.like(out, "attempt 2 of 4", "trace numbers the attempts")
t.like(out, "%-> 200 in %d+ ms", "trace shows status and timing")
t.like(out, "x%-api%-key: %*%*%*", "credential headers are masked by name")
t.like(out, "x%-note: carries %*%*%*", "secret values are masked anywhere")
t.ok(not out:find("sup3r-s3cret-k3y", 1, true), "the secret never appears")

local vg = io.popen("command -v valgrind"):read("l")
local variant = io.open("bin/evalua.variant") and io.open("bin/evalua.variant"):read("l")
if variant ~= "release" then
  -- valgrind cannot run a sanitizer build (make check SANITIZE=...): that build checks itself
  t.ok(true, "valgrind skipped: bin/evalua is a " .. tostring(variant) .. " build")
  t.ok(true, "valgrind skipped")
elseif vg then
  out = sh("EVALUA_TEST_KEY=sup3r-s3cret-k3y valgrind --leak-check=full --errors-for-leak-kinds=definite "
    .. "--error-exitcode=9 bin/evalua " .. script)
  t.like(out, "ERROR SUMMARY: 0 errors", "valgrind: no memory errors on an HTTP script")
  t.ok(out:find("definitely lost: 0 bytes") or out:find("no leaks are possible"), "valgrind: no definite leaks")
else
  t.ok(false, "valgrind is installed (scripts/install-deps check)")
end
os.remove(script)
sandbox.stop()
t.done()
