-- The whole session as JSON (tests, outcomes, output, runs, cases, metrics): the input
-- of `evalua report merge` and of other tools.
local costs = require "evalua.report.costs"
local markup = require "evalua.report.markup"
local session = require "evalua.runner.session"

local json_report = {}

function json_report.new(sink)
  return {
    name = "json",
    -- JSON copies a string's bytes: text that is not UTF-8 (a service's answer, a
    -- test's output) is made valid, so that other tools can read the report.
    finish = function(_, data) sink.write(markup.utf8(session.encode(costs.annotate(data)))) end,
  }
end

return json_report
