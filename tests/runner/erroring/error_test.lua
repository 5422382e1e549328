-- A bug in a test is an error, not a failure.
test("calls a nil value", function()
  local t = nil
  return t.field
end)

test("fine", function() end)
