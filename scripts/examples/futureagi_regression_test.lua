-- Future AGI simulate regression: execute a run test (scenarios of simulated calls),
-- wait through the `evaluating` phase, assert on the evals of each call.
--
--   FI_API_KEY=... FI_SECRET_KEY=... evalua test scripts/examples/futureagi_regression_test.lua
--
-- Against the sandbox: FI_BASE_URL=$base/fi FI_API_KEY=fi-test-key FI_SECRET_KEY=fi-test-secret.
local futureagi = require "evalua.futureagi"

local fi = futureagi.connect({})
local RUN_TEST = env("FI_RUN_TEST", "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30")

local run
before_all(function()
  run = fi:start(RUN_TEST):wait({ timeout = "30m" }):results()
end)

test("the execution finishes", function()
  expect(run):to_be_completed()
  expect(#run.cases):to_be_at_least(1)
end)

test("calls complete the customer's task", function()
  expect(run):to_have_pass_rate_at_least(0.8, "task_completion")
end, { tags = "quality" })

test("the agent stays polite on every call", function()
  for _, case in ipairs(run.cases) do
    if case.status ~= "failed" then
      check(case.name, function() expect(case):to_pass_metric("is_polite") end)
    end
  end
end, { tags = "quality" })

test("conversation quality scores", function()
  local scores = run:scores("conversation_quality")
  expect(#scores):to_be_at_least(1)
  table.sort(scores)
  print("median conversation_quality:", scores[(#scores + 1) // 2])
end)

threshold({ metrics = { task_completion = 0.8, is_polite = 0.9 } })
