-- Decoding alone: json.decode (core/json.c) and cjson.decode of the same text in one
-- process, taking turns, three times each (GC as usual, a full collection before each).
-- Prints the best time of each, MB/s and json's speed relative to cjson.
--   evalua run tests/bench/decode.lua FILE
local cjson = require "cjson"
local path = assert(arg[1], "usage: decode.lua FILE")
local f = assert(io.open(path, "rb"))
local text = f:read("a")
f:close()

local function time(decode)
  collectgarbage()
  local t0 = os.clock()
  local doc = decode(text)
  local seconds = os.clock() - t0
  assert(type(doc) == "table", "not a document")
  return seconds
end

local best = { json = math.huge, cjson = math.huge }
for _ = 1, 3 do
  best.json = math.min(best.json, time(json.decode))
  best.cjson = math.min(best.cjson, time(cjson.decode))
end
print(("json_seconds %.6f"):format(best.json))
print(("cjson_seconds %.6f"):format(best.cjson))
print(("json_mbps %.2f"):format(#text / 1e6 / best.json))
print(("cjson_mbps %.2f"):format(#text / 1e6 / best.cjson))
print(("speed_ratio %.4f"):format(best.cjson / best.json))
