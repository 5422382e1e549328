-- Retries and pass rates: tests whose outcome depends on how often they ran. Counters
-- are per file, so the outcomes are the same in any order.
local errors = require "evalua.errors"

local tries = {}
local function attempt(name)
  tries[name] = (tries[name] or 0) + 1
  return tries[name]
end

test("passes on the second attempt", function()
  expect(attempt("second")):to_be_at_least(2)
end, { retries = 2 })

test("never passes", function()
  expect(attempt("never")):to_be(0)
end, { retries = 1 })

test("infra, then passes", function()
  if attempt("infra") == 1 then
    errors.raise({ kind = "connect", message = "connection refused", url = "http://127.0.0.1:1/" })
  end
end, { retries = 1 })

test("passes at once", function() expect(1):to_be(1) end, { retries = 3 })

test("three of five", function()
  local n = attempt("rate")
  expect(n % 5 == 1 or n % 5 == 2):to_be(false)
end, { repeats = 5, pass_rate = 0.6 })

test("two of four", function()
  expect(attempt("low") % 2):to_be(0)
end, { repeats = 4, pass_rate = "75%" })
