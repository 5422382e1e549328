-- The result-document baseline: plain lua5.4 reading a file and decoding it with lua-cjson.
-- Prints seconds (CPU time: the work is single-threaded and the file is in the page cache),
-- bytes and peak RSS.
--   lua5.4 tests/bench/cjson_decode.lua FILE
local cjson = require "cjson"

local function status_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match(field .. ":%s*(%d+) kB")
  f:close()
  return tonumber(kb)
end

local rss0 = status_kb("VmRSS")
local t0 = os.clock()
local f = assert(io.open(assert(arg[1], "usage: cjson_decode.lua FILE"), "rb"))
local text = f:read("a")
f:close()
local doc = cjson.decode(text)
local t1 = os.clock()
assert(#doc.testCases > 0, "not a results document")
print(("bytes %d"):format(#text))
print(("seconds %.6f"):format(t1 - t0))
print(("mbps %.2f"):format(#text / 1e6 / (t1 - t0)))
print(("start_rss_kb %d"):format(rss0))
print(("peak_rss_kb %d"):format(status_kb("VmHWM")))
