-- Matchers, negation, the table diff, file:line of failures, domain matchers.
package.path = "tests/runner/?.lua;tests/lua/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
require "host"
local tap = require "tap"
local diff = require "evalua.runner.diff"
local expect_mod = require "evalua.runner.expect"
local expect = expect_mod.expect

-- The failure an expectation raises (nil when it passes), and the line it ran on.
local function failure(fn)
  local line = debug.getinfo(2, "l").currentline
  local ok, err = pcall(fn)
  if ok then return nil, line end
  return err, line
end

-- diff
tap.is(diff.first_difference({ a = 1, b = { 2, 3 } }, { a = 1, b = { 2, 3 } }), nil, "equal tables have no difference")
local path, e, a = diff.first_difference({ a = 1, b = { 2, 3 } }, { a = 1, b = { 2, 4 } })
tap.is(path, "$.b[2]", "path to the first difference")
tap.is(e, 3, "expected value at the difference")
tap.is(a, 4, "actual value at the difference")
tap.is(diff.first_difference({ ["a key"] = 1 }, {}), '$["a key"]', "odd keys are quoted in the path")
tap.is(diff.first_difference({ 1, 2 }, { 1, 2, 3 }), "$[3]", "an extra element is a difference")
local cyc1, cyc2 = {}, {}
cyc1.self, cyc2.self = cyc1, cyc2
tap.is(diff.first_difference(cyc1, cyc2), nil, "cycles compare without looping")
tap.is(diff.show({ b = 1, a = { "x", true } }), '{a = {"x", true}, b = 1}', "show sorts keys and renders arrays")
tap.like(diff.show(string.rep("x", 500)), "more bytes%)$", "long strings are cut")
tap.is(diff.show(require("cjson").null), "null", "JSON null shows as null")

-- generic matchers pass
tap.ok(pcall(function()
  expect(2):to_equal(2)
  expect({ 1, { a = 2 } }):to_equal({ 1, { a = 2 } })
  expect("abc"):to_be("abc"):to_match("^a"):to_contain("bc")
  expect({ 1, { x = 1 } }):to_contain({ x = 1 })
  expect(5):to_be_at_least(5):to_be_at_most(5)
  expect(1.5):to_be_a("number"):to_be_a("float")
  expect('{"a":[1]}'):to_be_json():to_be_json({ a = { 1 } })
  expect(nil):to_be_nil()
  expect(0):to_be_truthy()
  expect(function() error("boom") end):to_raise("bo+m")
  expect(require("evalua.errors").new({ kind = "http" })):to_be_a("evalua.error")
end), "passing matchers do not raise and chain")

-- negation
tap.ok(pcall(function()
  expect(1).never:to_equal(2)
  expect("abc").never:to_match("z")
  expect({ 1, 2 }).never:to_contain(3)
  expect("x").never:to_be_a("number")
end), "negated matchers pass when the plain one fails")
local f, line = failure(function() expect(3).never:to_equal(3) end)
tap.is(f.message, "expected 3 not to equal 3", "negated failure message")
tap.is(f.line, line, "negated failure is located at the user's line")
tap.is(f.matcher, "never:to_equal", "negated matcher name")

-- failures carry file:line, expected, actual, diff
f, line = failure(function()
  expect({ name = "x", cases = { { status = "completed" } } }):to_equal({ name = "x", cases = { { status = "failed" } } })
end)
tap.ok(expect_mod.is_failure(f), "a failed expectation raises a Failure")
tap.like(f.file, "runner_expect_test%.lua$", "failure names the test file")
tap.is(f.line, line + 1, "failure names the line of the expectation")
tap.is(f.diff, 'first difference at $.cases[1].status: expected "failed", got "completed"', "diff gives the path")
tap.is(f.expected, '{cases = {{status = "failed"}}, name = "x"}', "expected is rendered")
tap.is(f.actual, '{cases = {{status = "completed"}}, name = "x"}', "actual is rendered")

f = failure(function() expect(3):to_be_at_least(5) end)
tap.is(f.message, "expected 3 to be at least 5", "comparison message")
f = failure(function() expect(nil):to_be_at_least(5) end)
tap.like(f.message, "not a number: nil", "comparison of a non-number explains")
f = failure(function() expect(42):to_be_a("string") end)
tap.is(f.actual, "integer", "to_be_a reports the actual type")
f = failure(function() expect("{oops"):to_be_json() end)
tap.ok(f ~= nil, "invalid JSON fails to_be_json")
f = failure(function() expect(function() end):to_raise() end)
tap.is(f.actual, "no error", "to_raise without an error")

-- bad arguments are errors (bugs in the test), not failures
local ok, err = pcall(function() expect(1):to_be_at_least("x") end)
tap.ok(not ok and type(err) == "string", "bad argument raises a string error")
tap.like(err, "runner_expect_test%.lua:%d+: bad argument #1 to 'to_be_at_least'", "bad argument blamed on the test line")
local _, unknown = pcall(function() return expect(1):to_bee(1) end)
tap.like(unknown, "has no matcher 'to_bee'", "unknown matcher is reported")

-- domain matchers
local run = { provider = "agentforce", id = "4KB1", status = "completed", raw_status = "COMPLETED", cases = {
  { name = "c1", status = "completed", metrics = { { name = "topic", passed = true, score = 1 },
                                                   { name = "resp", passed = false, score = 0.2, reason = "off topic" } } },
  { name = "c2", status = "completed", metrics = { { name = "topic", passed = false, expected = "A", actual = "B" } } },
  { name = "c3", status = "completed", metrics = { { name = "topic", passed = true, score = 1 } } },
} }
tap.ok(pcall(function()
  expect(run):to_be_completed()
  expect(run.cases[3]):to_pass()
  expect(run.cases[1]):to_pass_metric("topic"):to_have_metric("resp"):to_score_at_least("topic", 1)
  expect(run):to_have_pass_rate_at_least(0.6, "topic")
  expect(run).never:to_pass()
  expect(run.cases[2]).never:to_have_metric("resp")
end), "domain matchers pass on a hand-built run")
f = failure(function() expect(run):to_pass() end)
tap.like(f.message, 'expected run agentforce:4KB1 to pass every metric', "run to_pass names the run")
tap.like(f.message, 'case "c1": resp, FAILED, score 0.2, reason "off topic"', "lists the failing metric of each case")
tap.like(f.message, 'case "c2": topic, FAILED, expected "A", actual "B"', "shows expected and actual of metrics")
tap.is(f.actual, "2 of 3 cases failed", "actual counts failing cases")
f = failure(function() expect(run.cases[1]):to_pass_metric("latency") end)
tap.like(f.message, 'no metric "latency" %(has: topic, resp%)', "missing metric lists the present ones")
f = failure(function() expect(run):to_have_pass_rate_at_least(0.9, "topic") end)
tap.is(f.actual, "0.6667 (2 of 3)", "pass rate failure shows the rate and counts")
f = failure(function() expect(run):to_have_pass_rate_at_least(0.5) end)
tap.is(f.actual, "0.3333 (1 of 3)", "case pass rate over every metric")
f = failure(function() expect(run.cases[1]):to_score_at_least("resp", 0.5) end)
tap.like(f.message, "to score at least 0.5 on \"resp\"", "score matcher message")
f = failure(function() expect({ provider = "kapso", id = "r1", status = "failed", raw_status = "ERR", cases = {} })
  :to_be_completed() end)
tap.like(f.message, "status failed %(service said ERR%)", "to_be_completed explains the status")
f = failure(function() expect(nil):to_pass() end)
tap.like(f.message, "not a run or case: nil", "domain matcher on nil explains")
local unjudged = { name = "u", metrics = { { name = "latency", score = 1200 } } }
f = failure(function() expect(unjudged):to_pass() end)
tap.like(f.message, "no verdict", "a case without any verdict does not pass")
local mapped = { name = "m", metrics = { topic = { passed = true } } }
tap.ok(pcall(function() expect(mapped):to_pass_metric("topic") end), "metrics keyed by name are understood")

tap.done()
