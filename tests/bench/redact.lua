-- Redaction of a large text with many registered secrets (issue 10: it cost text size ×
-- number of secrets; now one Aho-Corasick pass over every form of every secret).
-- Prints the CPU seconds of one redaction and checks that every planted secret was masked.
--   bin/evalua run tests/bench/redact.lua MEGABYTES SECRETS
local redact = require "evalua.redact"

local megabytes, nsecrets = tonumber(arg[1]), tonumber(arg[2])
assert(megabytes and nsecrets, "usage: redact.lua MEGABYTES SECRETS")

-- Secrets like the ones evalua holds: Salesforce tokens ("00D...!..."), API keys, and
-- some with characters that outputs escape.
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local state = 12345
local function rand(n) -- a fixed linear congruential sequence: the same text every run
  state = (state * 1103515245 + 12345) % 2147483648
  return state % n + 1
end
local function word(n)
  local out = {}
  for i = 1, n do
    local k = rand(#ALPHABET)
    out[i] = ALPHABET:sub(k, k)
  end
  return table.concat(out)
end
local secrets = {}
for i = 1, nsecrets do
  local kind = i % 3
  secrets[i] = kind == 0 and ("00D" .. word(12) .. "!" .. word(40))
    or kind == 1 and ("key-" .. word(28)) or (word(10) .. "&<\"'$%+" .. word(10))
  redact.register(secrets[i])
end

-- Log-like text (vendor JSON, trace lines) with a secret every ~50 KB.
local line = '{"status":"IN_PROGRESS","testCases":[{"name":"Order status","score":0.91,"message":'
  .. '"The agent answered within policy"}]} > GET https://example.my.salesforce.com/services/data\n'
local parts, size, planted = {}, 0, 0
while size < megabytes * 1e6 do
  for _ = 1, 300 do
    parts[#parts + 1] = line
    size = size + #line
  end
  local s = secrets[rand(#secrets)]
  parts[#parts + 1] = s
  size, planted = size + #s, planted + 1
end
local text = table.concat(parts)

local t0 = os.clock()
redact.redact("warm up")   -- builds the automaton for the set
local t1 = os.clock()
local out = redact.redact(text)
local t2 = os.clock()
local _, masked = out:gsub("%*%*%*", "")
assert(masked == planted, ("%d secrets planted, %d masked"):format(planted, masked))
print(("bytes %d"):format(#text))
print(("secrets %d"):format(nsecrets))
print(("build_seconds %.6f"):format(t1 - t0))
print(("seconds %.6f"):format(t2 - t1))
print(("mbps %.2f"):format(#text / 1e6 / (t2 - t1)))
