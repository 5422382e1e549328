-- Result documents: fetch a results document and decode it as it arrives
-- (`http.get(url, {decode = "json"}):json()`: the body is never held whole), and with
-- "model" also map it into the result model. Prints seconds, bytes and peak RSS.
--   evalua run tests/bench/results_doc.lua URL [decode|model]
local url, mode = arg[1], arg[2] or "decode"
assert(url and (mode == "decode" or mode == "model"), "usage: results_doc.lua URL [decode|model]")

local function status_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match(field .. ":%s*(%d+) kB")
  f:close()
  return tonumber(kb)
end

local get = http.get -- loads the http module now: module loading is start-up, measured apart
local rss0 = status_kb("VmRSS")
local t0 = task.now()
local res = get(url, { max_body = 512 * 1024 * 1024, decode = "json" })
local doc = res:json()
local t1 = task.now()
assert(res.status == 200 and #doc.testCases > 0, "not a results document")
local bytes = tonumber(res.headers["content-length"])
print(("bytes %d"):format(bytes))
print(("seconds %.6f"):format(t1 - t0))
print(("mbps %.2f"):format(bytes / 1e6 / (t1 - t0)))
if mode == "model" then
  local model = require "evalua.model"
  local run = model.from.agentforce(doc)
  local t2 = task.now()
  assert(#run.cases == #doc.testCases, "model lost cases")
  print(("model_seconds %.6f"):format(t2 - t1))
end
print(("start_rss_kb %d"):format(rss0))
print(("peak_rss_kb %d"):format(status_kb("VmHWM")))
