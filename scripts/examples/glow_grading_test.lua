-- Glow custom grading as a test suite: replay every pending run of a benchmark test,
-- grade each answer with our own rules, submit the verdict through Glow's `end` call,
-- and gate the suite on the share of answers that passed.
--
--   GLOW_TOKEN=... evalua test scripts/examples/glow_grading_test.lua
--
-- Against the sandbox: GLOW_BASE_URL=$base/glow GLOW_TOKEN=glow-test-token.
local glow = require "evalua.glow"

local client = glow.connect({})
local BENCHMARK = env("GLOW_BENCHMARK", "b3e1a7c0-0000-4000-8000-000000000003") -- "Grading marathon"

-- "What is N + N+1?" -> the answer must contain 2N+1.
local function grade_sum(run, case)
  local question = tostring(case.inputs.title or case.name or "")
  local a = tonumber(question:match("(%d+)%s*%+"))
  local answer = tostring(case.outputs.response or "")
  if not a then
    return { passed = false, score = 0, feedback = "no question found in run " .. tostring(run.id) }
  end
  local right = answer:find(tostring(2 * a + 1), 1, true) ~= nil
  return { passed = right, score = right and 1 or 0,
           feedback = right and "correct sum" or ("expected %d in %q"):format(2 * a + 1, answer) }
end

test("every pending replay is graded by our rules", function()
  local test_id = client:create(BENCHMARK)
  local graded = client:grade_pending(test_id, grade_sum, { concurrency = 4, wait = { timeout = "10m" } })
  expect(#graded):to_be_at_least(1)
  for _, run in ipairs(graded) do
    expect(run):to_have_metric("grade")
  end
  expect(graded):to_have_pass_rate_at_least(0.9, "grade")
end, { timeout = "30m" })

threshold({ metrics = { grade = 0.9 } })
