-- Assertion failures: a table diff, a soft check, and a passing neighbour.
test("deep equality", function()
  expect({ name = "x", cases = { { status = "completed" }, { status = "failed" } } })
    :to_equal({ name = "x", cases = { { status = "completed" }, { status = "completed" } } })
end)

test("soft checks keep going", function()
  check("first", 1 == 2)
  check("second", function() expect(5):to_be_at_least(10) end)
  print("still running after two failed checks")
end)

test("fine", function() expect(true):to_be(true) end)
