-- Scale: RUNS Salesforce Agentforce runs started at once from one process and polled to
-- completion through the provider client (evalua.agentforce: OAuth token, start, status
-- and results polls with poll.wait's default backoff), against the sandbox with runs
-- lasting MIN..MAX seconds. Every run's result is checked. Prints one "name value" line
-- per figure.
--   evalua run tests/bench/scale.lua SANDBOX_URL RUNS MIN_SECONDS MAX_SECONDS
local agentforce = require "evalua.agentforce"

local base, runs, lo, hi = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
assert(base and runs and lo and hi, "usage: scale.lua SANDBOX_URL RUNS MIN_SECONDS MAX_SECONDS")
local CAP = 32 -- evalua's default per-host connection cap (docs/lua-api.md, http.configure)

-- The definitions run alternately, and what each run's results must show.
local definitions = {
  { name = "Order_Support_All_Pass", cases = 3, failed = 0 },
  { name = "Billing_Agent_Regressions", cases = 4, failed = 2 },
}

local function status_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match(field .. ":%s*(%d+) kB")
  f:close()
  return tonumber(kb)
end

local function control(path, body)
  local res = http.request { method = body and "POST" or "GET", url = base .. "/_control/" .. path,
                             json = body, retry = false }
  assert(res.status == 200, "sandbox control " .. path .. ": HTTP " .. res.status .. " " .. res.body)
  return res:json()
end

-- Polls the nominal backoff schedule (poll.wait defaults: 1 s, x1.5, at most 30 s, no
-- jitter) makes before it first sees a run of `duration` seconds finished.
local function schedule_polls(duration)
  local t, interval, polls = 0, 1, 1
  while t < duration do
    t, interval, polls = t + interval, math.min(interval * 1.5, 30), polls + 1
  end
  return polls
end

local function epoch(iso)
  local y, mo, d, h, mi, s = tostring(iso):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):([%d.]+)")
  assert(y, "not an ISO time: " .. tostring(iso))
  return os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = 0 } + tonumber(s)
end

control("reset", {})
control("config", { run_seconds = { lo, hi }, max_in_progress = runs * 2 })
-- Requests the client sent, counted here: asking the sandbox mid-run would queue behind them.
local sent = 0
local request = http.request
http.request = function(opts) -- luacheck: ignore 122
  sent = sent + 1
  return request(opts)
end

local sf = agentforce.connect { base_url = base .. "/sf", client_id = "sandbox-client-id",
                                client_secret = "sandbox-client-secret" }

collectgarbage()
local rss0, lua0 = status_kb("VmRSS"), collectgarbage("count")
local cpu0, t0 = os.clock(), task.now()
local started, finished, correct, minimum, start_errors = 0, 0, 0, 0, 0
local failures = {}

local function note(what)
  if #failures < 5 then failures[#failures + 1] = what end
end

local function one(i)
  local def = definitions[i % #definitions + 1]
  local ok, run = pcall(sf.start, sf, def.name)
  if not ok then
    start_errors = start_errors + 1
    return note("start failed: " .. tostring(run))
  end
  started = started + 1
  local waited, err = pcall(run.wait, run, { timeout = "10m" })
  finished = finished + 1
  if not waited then return note("wait failed: " .. tostring(err)) end
  if run.status == "completed" and #run.cases == def.cases and #run:failed_cases() == def.failed then
    correct = correct + 1
  else
    note("wrong result: " .. tostring(run))
  end
  -- start + status polls the schedule needs + one results fetch
  minimum = minimum + 1 + schedule_polls(epoch(run.ended_at) - epoch(run.started_at)) + 1
end

local handles = {}
for i = 1, runs do handles[i] = task.spawn(one, i) end

-- Memory of the waiting runs: sampled once every run has started and is being polled.
local deadline = task.now() + 120
while started + start_errors < runs and task.now() < deadline do task.sleep(0.05) end
local rss_waiting = status_kb("VmRSS")
local start_seconds, start_cpu = task.now() - t0, os.clock() - cpu0
local start_requests = sent
collectgarbage()
local lua_waiting = collectgarbage("count")
local cpu1 = os.clock()

task.all(handles)
local cpu, seconds = os.clock() - cpu0, task.now() - t0
local polling_cpu, polling_requests = os.clock() - cpu1, sent - start_requests
local stats = control("stats")
for _, f in ipairs(failures) do io.stderr:write("scale: ", f, "\n") end

local requests = stats.requests
print(("runs %d"):format(runs))
print(("completed_correctly %d"):format(correct))
print(("start_errors %d"):format(start_errors))
print(("seconds %.2f"):format(seconds))
print(("start_seconds %.2f"):format(start_seconds))
print(("requests %d"):format(requests))
print(("requests_per_run %.2f"):format(requests / runs))
print(("min_requests_per_run %.2f"):format(minimum / math.max(correct, 1)))
print(("cpu_seconds %.3f"):format(cpu))
print(("cpu_us_per_request %.2f"):format(cpu * 1e6 / requests))
-- The start phase (every run started at once) and the polling that follows, apart.
print(("start_cpu_us_per_request %.2f"):format(start_cpu * 1e6 / start_requests))
print(("polling_cpu_us_per_request %.2f"):format(polling_cpu * 1e6 / polling_requests))
print(("peak_rss_kb %d"):format(status_kb("VmHWM")))
print(("rss_per_waiting_run_bytes %.0f"):format((rss_waiting - rss0) * 1024 / runs))
print(("lua_heap_per_waiting_run_bytes %.0f"):format((lua_waiting - lua0) * 1024 / runs))
print(("polls_after_terminal %d"):format(stats.polls_after_terminal))
print(("max_connections %d"):format(stats.max_connections))
print(("connection_cap %d"):format(CAP))
local by_kind = { start = 0, status = 0, results = 0, token = 0, other = 0 }
for path, n in pairs(stats.by_path) do
  local kind = path:match("/results$") and "results" or path:match("^POST .*/runs$") and "start"
    or path:match("^GET .*/runs/{runId}$") and "status" or path:match("oauth2/token$") and "token" or "other"
  by_kind[kind] = by_kind[kind] + n
end
for kind, n in pairs(by_kind) do print(("requests_%s %d"):format(kind, n)) end
return correct == runs and 0 or 1
