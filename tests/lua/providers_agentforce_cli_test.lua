-- `evalua test` over Salesforce's newest test kinds, end to end against the sandbox: a
-- conversation that reaches its goal passes, one that does not fails the suite (exit 1),
-- custom evaluations that could not be made are failures that say why, and the JSON report
-- carries the transcript and the comparisons; the example suite
-- (scripts/examples/agentforce_conversation_test.lua) passes; `evalua resume` judges a
-- conversation run a script left running. Skipped when bin/evalua is not built.
local t = require "tap"
local shell = require "shell"
local support = require "providers_support"

if not io.open("bin/evalua", "r") then
  t.diag("bin/evalua not built: end-to-end checks skipped")
  t.ok(true, "skipped")
  t.done()
  return
end

local SUITE = [[
local agentforce = require "evalua.agentforce"
local sf = agentforce.connect { api_version = "66.0" }
local function talk(goal)
  return sf:converse { agent_id = "0XxSM00000000010AA", agent_version_id = "0X9SM00000000010AA",
                       max_turns = 4, cases = { { goal = goal } } }
end
test("password reset conversation", function() expect(talk("Reset my password")):to_pass() end)
test("refund conversation", function() expect(talk("I want a refund")):to_pass() end)
test("custom evaluations", function()
  expect(sf:start("Custom_Evaluations_Agent"):wait { timeout = "60s" }:results()):to_pass()
end)
]]

support.run(function()
  local base = support.start { run_seconds = 0.3 }
  local dir = shell.tmpdir()
  shell.write(dir .. "/newest_test.lua", SUITE)
  local env = ("SF_MY_DOMAIN=%s/sf SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret"):format(base)
  local _, code = shell.sh(("cd %s && env %s %s/bin/evalua test -r json:r.json --journal j newest_test.lua > out 2>&1")
    :format(dir, env, os.getenv("PWD")), 120)
  local report = json.decode(assert(shell.read(dir .. "/r.json"), "no report"))
  t.ok(code == 1 and report.exit_code == 1, "a conversation that missed its goal fails the suite: exit 1")
  local by_name = {}
  for _, test in ipairs(report.tests) do by_name[test.name] = test end
  t.is(by_name["password reset conversation"].outcome, "passed", "the conversation that reached its goal passes")
  local refund = by_name["refund conversation"]
  t.is(refund.outcome, "failed", "the one that ran out of turns fails")
  t.like(refund.failures[1].message, "evaluator%.task_resolution, FAILED.-MAX_TURNS_REACHED",
    "... saying which scorer failed and why")
  local case = refund.runs[1].cases[1]
  t.ok(#case.outputs.transcript == 8 and case.outputs.transcript[2].role == "assistant"
    and case.inputs.goal == "I want a refund", "the report holds the conversation: goal and four exchanges")
  local custom = by_name["custom evaluations"]
  t.is(custom.outcome, "failed", "custom evaluations that fail fail the test")
  t.like(custom.failures[1].message, "error \"numeric_comparison: no actual value at %$%.generatedData",
    "the failure says the numeric comparison had no actual value")
  t.like(custom.failures[1].message, "unknown operator 'approximately'", "... and that an operator is unknown")
  local first = custom.runs[1].cases[1]
  local comparison
  for _, m in ipairs(first.metrics) do
    if m.label == "delivery within 5 days" then comparison = m.comparison end
  end
  t.ok(comparison and comparison.operator == "less_than_or_equal" and comparison.actual == 3
    and comparison.actual_path:find("daysToDelivery", 1, true), "the report carries the comparison and its operands")
  t.is(first.inputs.context_variables.CustomerId, "003SM000001AbCdYAK", "... and the case's context variables")

  local out
  out, code = shell.sh(("env %s SF_AGENT_ID=0XxSM00000000010AA SF_AGENT_VERSION_ID=0X9SM00000000010AA "
    .. "bin/evalua test --journal %s/j scripts/examples/agentforce_conversation_test.lua"):format(env, dir), 120)
  if not t.is(code, 0, "the example conversation suite passes against the sandbox") then t.diag(out) end

  -- A script starts a saved conversation run and exits: `evalua resume` waits for it and judges it.
  shell.write(dir .. "/start.lua", [[
local sf = require("evalua.agentforce").connect { api_version = "66.0" }
sf:start_conversation { name = "Left_Running", agent_id = "0XxSM00000000010AA", agent_version_id = "0X9SM00000000010AA",
  cases = { { goal = "Reset my password" }, { goal = "I want a refund" } } }
]])
  out, code = shell.sh(("env %s EVALUA_JOURNAL=%s/left bin/evalua run %s/start.lua && env %s bin/evalua resume "
    .. "--journal %s/left -r json:%s/resumed.json"):format(env, dir, dir, env, dir, dir), 120)
  local resumed = json.decode(shell.read(dir .. "/resumed.json") or "{}")
  local entry = resumed.tests and resumed.tests[1] or {}
  t.ok(code == 1 and entry.outcome == "failed", "resume re-attaches to the conversation run and fails it (exit 1)")
  t.like(entry.failures and entry.failures[1].message or out, "case 2 failed: metric evaluator%.task_resolution failed",
    "... naming the conversation that missed its goal")
  os.execute("rm -rf " .. dir)
end)

t.done()
