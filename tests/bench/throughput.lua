-- Throughput: N GETs of a small JSON status body from CONCURRENCY tasks, each body
-- decoded. Prints "rps <requests per second>".
--   evalua run tests/bench/throughput.lua URL N CONCURRENCY
local url, total, conc = arg[1], tonumber(arg[2]), tonumber(arg[3])
assert(url and total and conc, "usage: throughput.lua URL N CONCURRENCY")

-- One connection per task, as the C and Node baselines have (the default cap is 32).
http.configure { max_host_connections = conc }

local left = total
local function worker()
  while left > 0 do
    left = left - 1
    local res = http.get(url)
    -- Checked as the C baseline checks; no message built per request.
    if res.status ~= 200 then error("status " .. res.status) end
    if type(res:json().status) ~= "string" then error("body has no status field") end
  end
end

local t0 = task.now()
local workers = {}
for i = 1, conc do workers[i] = task.spawn(worker) end
task.all(workers)
print(("rps %.1f"):format(total / (task.now() - t0)))
