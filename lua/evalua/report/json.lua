-- The whole session as JSON (tests, outcomes, output, runs, cases, metrics): the input
-- of `evalua report merge` and of other tools.
local session = require "evalua.runner.session"

local json_report = {}

function json_report.new(sink)
  return {
    name = "json",
    finish = function(_, data) sink.write(session.encode(data)) end,
  }
end

return json_report
