-- Everything here passes: hooks order, describe nesting, print capture, soft checks.
local order = {}

before_all(function() order[#order + 1] = "before_all" end)
before_each(function() order[#order + 1] = "before_each" end)
after_each(function() order[#order + 1] = "after_each" end)

test("arithmetic", function()
  expect(1 + 1):to_equal(2)
  expect({ a = { 1, 2 } }):to_equal({ a = { 1, 2 } })
  expect("hello world"):to_match("^hello"):to_contain("o w")
  expect(3).never:to_be(4)
end, { tags = { "fast" } })

test("prints are captured", function()
  print("hello from the test", 42)
  check("a soft check that holds", true)
end)

describe("outer", function()
  before_each(function() order[#order + 1] = "outer before_each" end)
  describe("inner", function()
    test("hooks ran in order", function()
      expect(order[1]):to_equal("before_all")
      expect(order[#order]):to_equal("outer before_each")
    end, { tags = "slow" })
  end)
end)
