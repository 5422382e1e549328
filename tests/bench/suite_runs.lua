-- A whole `evalua test` invocation at scale: BENCH_SUITE_RUNS tests, each starting one
-- Agentforce run (alternately Order_Support_All_Pass and Billing_Agent_Regressions)
-- against the sandbox named by SF_MY_DOMAIN, waiting for it and asserting on it. The
-- bench runs it with every test at once and all five reporters on, and records the
-- process's peak RSS per run.
-- luacheck: read globals test expect
local agentforce = require "evalua.agentforce"

local runs = tonumber(os.getenv("BENCH_SUITE_RUNS"))
assert(runs, "set BENCH_SUITE_RUNS")
local sf = agentforce.connect({})
local definitions = { "Order_Support_All_Pass", "Billing_Agent_Regressions" }

for i = 1, runs do
  test(("run %d"):format(i), function()
    local run = sf:start(definitions[i % 2 + 1]):wait({ timeout = "30m" })
    expect(run):to_be_completed()
  end)
end
