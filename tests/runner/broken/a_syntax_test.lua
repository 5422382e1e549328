test("never declared", function()
  expect(1):to_be(1)
end  -- missing parenthesis
