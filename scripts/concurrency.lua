-- Concurrency and HTTP in one script: many requests in flight from one process.
--   evalua run scripts/concurrency.lua --base-url http://127.0.0.1:8080 --count 500
local script = require "evalua.script"

local flags = script.flags(arg, {
  { "base-url", meta = "URL", help = "sandbox server (default $SANDBOX_URL)" },
  { "count", number = true, default = 500, meta = "N", help = "requests in flight at once" },
}, "Start N tasks that each do a 0.25 s request and a 0.25 s sleep, then retry a flaky endpoint.")
local base = flags.base_url or os.getenv("SANDBOX_URL")
if not base or base == "" then
  io.stderr:write("concurrency.lua: give --base-url URL or set SANDBOX_URL (see --help)\n")
  return 2
end
local count = math.tointeger(flags.count)
if not count or count < 1 then
  io.stderr:write(("concurrency.lua: --count needs a positive whole number, got '%s'\n"):format(tostring(flags.count)))
  return 2
end

local started = task.now()
local handles = {}
for i = 1, count do
  handles[i] = task.spawn(function()
    local res = http.get(base .. "/_/delay/0.25")
    task.sleep(0.25)
    return res.status
  end)
end
local statuses = task.all(handles)
local ok = 0
for _, s in ipairs(statuses) do if s == 200 then ok = ok + 1 end end
local took = task.now() - started
print(("%d of %d tasks did a 0.25 s request and a 0.25 s sleep in %.2f s (sequentially: %.0f s)")
  :format(ok, count, took, count * 0.5))

-- Retries with backoff against a flaky endpoint, visible with -v.
local res = http.get(base .. "/_/flaky", { query = { key = "demo", fail = 2, status = 503 } })
print(("flaky endpoint: HTTP %d after %d attempts"):format(res.status, res.attempts))
return ok == count and 0 or 1
