-- Salesforce Agentforce regression suite: start the org's test definitions, assert on
-- the metrics Salesforce returns, and gate the suite on pass rates.
--
--   SF_MY_DOMAIN=https://my-org.my.salesforce.com SF_CLIENT_ID=... SF_CLIENT_SECRET=... \
--     evalua test scripts/examples/agentforce_regression_test.lua -r junit:reports/agentforce.xml
--
-- Against the sandbox: SF_MY_DOMAIN=$base/sf SF_CLIENT_ID=sandbox-client-id
-- SF_CLIENT_SECRET=sandbox-client-secret.
local agentforce = require "evalua.agentforce"

local sf = agentforce.connect({})

-- One run per definition, started once for the whole file: tests read it.
local orders
before_all(function()
  orders = sf:start("Order_Support_All_Pass"):wait({ timeout = "15m" }):results()
end)

describe("order support", function()
  test("the run completes", function()
    expect(orders):to_be_completed()
  end)

  test("every case routes to the right topic", function()
    expect(orders):to_pass_metric("topic_sequence_match")
  end, { tags = "routing" })

  test("actions and answers", function()
    for _, case in ipairs(orders.cases) do
      -- Soft checks: every failing case is listed, not just the first.
      check(case.name .. " actions", function() expect(case):to_pass_metric("action_sequence_match") end)
      check(case.name .. " answer", function() expect(case):to_pass_metric("bot_response_rating") end)
    end
  end)
end)

test("billing regressions stay within budget", function()
  local run = sf:start("Billing_Agent_Regressions"):wait({ timeout = "15m" })
  expect(run):to_be_completed()
  print(("billing pass rate: %.0f%%"):format((run:pass_rate() or 0) * 100))
  expect(run):to_have_pass_rate_at_least(0.5)
end, { tags = "billing", timeout = "20m" })

test("a custom grader: answers must not leak internal tool names", function()
  local run <close> = sf:start("Guest_Experience_Agent")
  run:wait({ timeout = "15m" })
  for _, case in ipairs(run.cases) do
    local answer = case.outputs.response or ""
    check(case.name .. " leaks no tool name", not answer:find("Get_[%w_]+"))
  end
end)

-- Suite-level gates over every run started in this file.
threshold({
  metrics = { topic_sequence_match = 0.9, action_sequence_match = 0.9, bot_response_rating = 0.7 },
})
