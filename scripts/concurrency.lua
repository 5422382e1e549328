-- Concurrency and HTTP in one script: many requests in flight from one process.
-- Usage: evalua run scripts/concurrency.lua BASE_URL [COUNT]
local base = arg[1] or env("SANDBOX_URL")
local count = tonumber(arg[2]) or 500

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
