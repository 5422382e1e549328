-- Salesforce conversation-level tests: give the agent goals, let Salesforce's simulated
-- caller talk to it, and gate on the conversations' verdicts and on what the agent did.
--
--   SF_MY_DOMAIN=https://my-org.my.salesforce.com SF_CLIENT_ID=... SF_CLIENT_SECRET=... \
--   SF_AGENT_ID=0Xx... SF_AGENT_VERSION_ID=0X9... \
--     evalua test scripts/examples/agentforce_conversation_test.lua -r junit:reports/conversations.xml
--
-- Against the sandbox: SF_MY_DOMAIN=$base/sf SF_CLIENT_ID=sandbox-client-id
-- SF_CLIENT_SECRET=sandbox-client-secret SF_AGENT_ID=0XxSM00000000010AA
-- SF_AGENT_VERSION_ID=0X9SM00000000010AA.
local agentforce = require "evalua.agentforce"

local sf = agentforce.connect { api_version = "66.0" }
local AGENT_ID, AGENT_VERSION_ID = env("SF_AGENT_ID"), env("SF_AGENT_VERSION_ID")

-- Quick checks while tuning the agent: nothing is saved in the org.
test("a password reset succeeds within five turns", function()
  local run = sf:converse {
    agent_id = AGENT_ID, agent_version_id = AGENT_VERSION_ID, max_turns = 5,
    cases = { { goal = "Reset my password", context = { CustomerName = "Jo" } } },
  }
  expect(run):to_pass()
  local reset = run:case("1")
  expect(reset.outputs.actions):to_contain("Reset_Password")
  expect(reset.outputs.transcript[2].content):to_contain("Jo") -- the agent used the context
end)

-- The regression suite, saved in the org as a test suite (a workbook) and run asynchronously.
test("the support suite resolves every goal", function()
  local run <close> = sf:start_conversation {
    name = "Support_Conversations", agent_id = AGENT_ID, agent_version_id = AGENT_VERSION_ID,
    max_turns = 8, persona = "FRUSTRATED",
    cases = {
      { goal = "Reset my password" },
      { goal = "Book a table for two tonight.",
        scorers = { "task_resolution", { name = "acceptance_criteria", expected = "The agent confirms the booking" } } },
    },
  }
  run:wait { timeout = "30m" }
  run:results()
  for _, case in ipairs(run.cases) do
    check(case.inputs.goal, function() expect(case):to_pass() end)
    if case:passed() ~= true then
      for _, m in ipairs(case.outputs.transcript or {}) do print(("  %-9s %s"):format(m.role, m.content)) end
    end
  end
end, { timeout = "35m" })
