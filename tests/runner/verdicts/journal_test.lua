-- Runs whose end is journalled: the journal marks a run finished only once the reports
-- hold it; a run evalua cancelled is marked at once. VERDICTS_JOURNAL names the journal.
local fake = require "evalua.fake"
local journal = require "evalua.journal"

local function state(id)
  for _, e in ipairs((journal.read(VERDICTS_JOURNAL))) do
    if e.key == "fake:" .. id then return e.finished and (e.cancelled and "cancelled" or "finished") or "open" end
  end
  return "absent"
end

test("a run that ends", function()
  fake.start({ id = "ENDS", after = 1, cases = fake.cases("m", { true }) }):wait()
end)

test("its end is not journalled before the report", function()
  expect(state("ENDS")):to_be("open")
end)

test("a run cancelled by evalua", function()
  local run = fake.start({ id = "CANCELLED", after = 5 })
  run:cancel()
  expect(state("CANCELLED")):to_be("cancelled")
end)
