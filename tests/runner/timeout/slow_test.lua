local task = require "evalua.task"

test("takes too long", function() task.sleep(60) end, { timeout = "2s" })
test("quick", function() task.sleep(1) end)
