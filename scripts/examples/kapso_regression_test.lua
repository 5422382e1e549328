-- Kapso regression: run each test case of a suite; Kapso scores a run 0–10, and the
-- pass mark is this suite's choice (evalua never hard-codes one).
--
--   KAPSO_API_KEY=... evalua test scripts/examples/kapso_regression_test.lua
--
-- Against the sandbox: KAPSO_BASE_URL=$base/kapso/api/v1 KAPSO_API_KEY=kapso-test-key.
local kapso = require "evalua.kapso"

local PASS_SCORE = 8 -- on Kapso's 0–10 scale
local client = kapso.connect({ pass_score = PASS_SCORE })

local cases = {
  { name = "greeting", id = "ca5e0000-0000-4000-8000-000000000001" },
  { name = "pricing question", id = "ca5e0000-0000-4000-8000-000000000002" },
  { name = "order tracking", id = "ca5e0000-0000-4000-8000-000000000005" },
}

describe("onboarding", function()
  for _, c in ipairs(cases) do
    test(c.name, function()
      local run = client:start(c.id):wait({ timeout = "10m" })
      expect(run):to_be_completed()
      expect(run.cases[1]):to_score_at_least("score", PASS_SCORE)
    end, { tags = "onboarding" })
  end
end)

test("a refund answer quotes the policy (custom grader)", function()
  local run = client:start("ca5e0000-0000-4000-8000-000000000004"):wait({ timeout = "10m" })
  local case = run.cases[1]
  local transcript = case.outputs.transcript or {}
  local said = {}
  for _, turn in ipairs(transcript) do said[#said + 1] = tostring(turn.content or "") end
  -- The rule is ours: the agent must mention the 30-day window.
  check("mentions the 30-day window", table.concat(said, "\n"):lower():find("30[ -]day") ~= nil)
end, { tags = "refunds" })

threshold({ pass_rate = 0.75 })
