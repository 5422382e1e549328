-- Runs after raise_test.lua: still run, still pass.
test("in another file", function() expect(true):to_be(true) end)
