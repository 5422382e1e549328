-- Generate a Salesforce-shaped results document (GET .../einstein/ai-evaluations/runs/{id}/results)
-- of about MEGABYTES MB: thousands of testCases, each with generatedData and three testResults,
-- the shape of the fixture einstein_ai-evaluations_runs_4KBSM000000003F4AQ_results__4.json.
-- Seeded, so that every run of the benchmark decodes the same bytes.
--   lua5.4 tests/bench/gen_results.lua OUT MEGABYTES [SEED]
local cjson = require "cjson"

local out_path, megabytes, seed = arg[1], tonumber(arg[2]), tonumber(arg[3] or 42)
assert(out_path and megabytes, "usage: gen_results.lua OUT MEGABYTES [SEED]")
math.randomseed(seed)

local words = {
  "massage", "booking", "schedule", "membership", "refund", "order", "invoice", "delivery",
  "appointment", "today", "tomorrow", "after", "before", "please", "number", "email", "account",
  "premium", "relaxing", "deep-tissue", "swedish", "session", "cancel", "change", "upgrade",
}
local topics = { "Experience_Management", "Order_Support", "Billing", "Account_Management", "Travel" }
local actions = { "Get_Experience_Details", "Generate_Personalized_Schedule", "Get_Customer_Details",
                  "Create_Experience_Session_Booking", "Lookup_Order", "Issue_Refund", "Update_Account" }

local function pick(list) return list[math.random(#list)] end

local function sentence(n)
  local w = {}
  for i = 1, n do w[i] = pick(words) end
  return table.concat(w, " ") .. (" %d."):format(math.random(10000000, 99999999))
end

local function action_list()
  local a = {}
  for i = 1, math.random(1, 4) do a[i] = pick(actions) end
  return a
end

local function stamp(s)
  return ("2025-01-07T%02d:%02d:%02dZ"):format(12 + s // 3600 % 12, s // 60 % 60, s % 60)
end

local str = cjson.encode

-- One testResults entry; keys in Salesforce's order.
local function result(name, actual, expected, t)
  local score = math.random() < 0.9 and 1.0 or math.random() * 0.5
  return ('{"name":%s,"actualValue":%s,"expectedValue":%s,"score":%.2f,"result":%s,"metricLabel":%s,'
    .. '"metricExplainability":%s,"status":"COMPLETED","startTime":%s,"endTime":%s,'
    .. '"errorCode":null,"errorMessage":null}')
    :format(str(name), str(actual), str(expected), score, str(score >= 0.6 and "PASS" or "FAILURE"),
      str(pick { "Accuracy", "Precision" }), str(sentence(6)), str(stamp(t)), str(stamp(t + 1)))
end

local function case(i)
  local t = i * 10
  local topic, acts = pick(topics), action_list()
  local acts_json = cjson.encode(acts)
  local results = {
    result("topic_sequence_match", topic, pick(topics), t + 2),
    result("action_sequence_match", acts_json, cjson.encode(action_list()), t + 4),
    result("bot_response_rating", sentence(14), sentence(12), t + 4),
  }
  return ('{"status":"COMPLETED","testNumber":%d,"inputs":{"utterance":%s},"startTime":%s,"endTime":%s,'
    .. '"generatedData":{"type":"AGENT","actionsSequence":%s,"outcome":"Success","topic":%s},'
    .. '"testResults":[%s]}')
    :format(i, str(sentence(18)), str(stamp(t)), str(stamp(t + 10)), acts_json, str(topic),
      table.concat(results, ","))
end

local target = math.floor(megabytes * 1024 * 1024)
local f = assert(io.open(out_path, "w"))
local head = '{"status":"COMPLETED","startTime":"2025-01-07T12:00:00Z","endTime":"2025-01-07T23:59:59Z",'
  .. '"errorMessage":null,"subjectName":"Guest_Experience_Agent","testCases":['
local written, n = #head, 0
f:write(head)
while written < target - 2 do
  n = n + 1
  local c = (n > 1 and "," or "") .. case(n)
  f:write(c)
  written = written + #c
end
f:write("]}")
f:close()
print(("cases %d"):format(n))
print(("bytes %d"):format(written + 2))
