-- A waiting run stays lean: an Agentforce status poll that says what the last one said is
-- not mapped into the model again (the mapper is counted here); a change and the terminal
-- status are; the run's fields stay right. poll.wait still hands its timeout error the
-- last value a failed check gave; the collector is the one measured best for many runs.
local t = require "tap"
local sandbox = require "sandbox"
local model = require "evalua.model"
local agentforce = require "evalua.agentforce"

local base = sandbox.start()
sandbox.control("config", { run_seconds = { 3, 3 }, max_in_progress = 10 })
local sf = agentforce.connect { base_url = base .. "/sf", client_id = "sandbox-client-id",
                                client_secret = "sandbox-client-secret" }

local real, maps = model.from.agentforce, 0
rawset(model.from, "agentforce", function(doc, ...)
  if doc.testCases == nil then maps = maps + 1 end -- a status document, not results
  return real(doc, ...)
end)

local run = sf:start("Order_Support_All_Pass")
local polls, statuses = 0, {}
while run:poll() ~= "completed" and polls < 200 do
  polls = polls + 1
  statuses[run.status] = true
  task.sleep(0.1)
end
rawset(model.from, "agentforce", real)

t.is(run.status, "completed", "the run completed")
t.ok(polls >= 10, ("polled %d times while it ran"):format(polls))
t.ok(statuses.running, "the poll saw it running")
-- the first status document and the change to IN_PROGRESS (when NEW was seen apart)
t.ok(maps >= 1 and maps <= 2, ("%d polls mapped %d status documents: the first and the change"):format(polls, maps))
t.is(#run.cases, 3, "the results were mapped: 3 cases")
t.ok(type(run.started_at) == "string" and run.started_at:match("^%d%d%d%d%-"), "started_at came from the status document")

do -- poll.wait's timeout error carries the last value a failed check returned
  local n = 0
  local ok, err = pcall(poll.wait, function()
    n = n + 1
    return false, "seen " .. n
  end, { interval = 0.01, timeout = 0.1, jitter = 0 })
  t.ok(not ok and err.kind == "timeout", "poll.wait times out")
  t.is(err.last, "seen " .. n, "with the last value the check gave")
end

-- The collector boot.lua chose by measurement: incremental (generational mode let 10,000
-- waiting runs peak 24% higher). Asking for the mode again changes nothing and says it.
t.is(collectgarbage("incremental"), "incremental", "the collector runs in incremental mode")

sandbox.stop()
t.done()
