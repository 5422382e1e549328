-- Runs started by tests are attributed to them; thresholds judge their metrics.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fake = dofile(here .. "../fake_provider.lua")

test("routing run completes", function()
  local run = fake.start({ after = 30, cases = fake.cases("topic_sequence_match", { true, true, true, false }) }):wait()
  expect(run):to_be_completed()
  expect(run):to_have_pass_rate_at_least(0.75, "topic_sequence_match")
end, { tags = "routing" })

test("response quality", function()
  local run = fake.start({ after = 20, cases = fake.cases("bot_response_rating", { true, false, true }, { 0.9, 0.3, 0.8 }) })
  run:wait()
  print("graded", #run.cases, "cases")
  expect(run.cases[1]):to_score_at_least("bot_response_rating", 0.8)
  expect(run.cases[2]):to_pass()
end, { tags = { "quality", "slow" } })

test("second routing run", function()
  local run = fake.start({ after = 5, cases = fake.cases("topic_sequence_match", { true, true }) }):wait()
  expect(run):to_pass_metric("topic_sequence_match")
end, { tags = "routing" })

threshold({ metrics = { topic_sequence_match = 0.8, bot_response_rating = 0.5 }, scores = { bot_response_rating = 0.5 } })
threshold({ pass_rate = 0.9 })
