-- The outside world failing is infra: never counted as the agent failing.
local errors = require "evalua.errors"

test("service unreachable", function()
  errors.raise({ kind = "connect", message = "Couldn't connect to server", url = "http://127.0.0.1:1/", method = "GET" })
end)

test("also unreachable", function()
  errors.raise({ kind = "connect", message = "Couldn't connect to server", url = "http://127.0.0.1:1/", method = "GET" })
end)

test("fine", function() end)
