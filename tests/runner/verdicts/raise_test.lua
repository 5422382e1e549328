-- Raises whose value is nil, or cannot be rendered: every one is an error, and the
-- tests after them still run.
test("error()", function() error() end)
test("error(nil)", function() error(nil) end)
test("assert(x, nil)", function() assert(false, nil) end)
test("error(false)", function() error(false) end)
test("__tostring raises", function()
  error(setmetatable({}, { __tostring = function() error("boom in tostring") end }))
end)
test("__tostring returns a table", function()
  error(setmetatable({}, { __tostring = function() return {} end }))
end)
test("after them", function() expect(1):to_be(1) end)
