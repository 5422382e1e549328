-- A run started in before_all belongs to the file; tests assert on it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fake = dofile(here .. "../fake_provider.lua")

local shared
before_all(function()
  shared = fake.start({ id = "SHARED", cases = fake.cases("topic_sequence_match", { true, true, true, false }) }):wait()
end)

test("shared run has the metric", function()
  expect(shared):to_have_metric("topic_sequence_match")
end)

threshold({ metrics = { topic_sequence_match = 0.7 } })
