-- Flaky tests, named: --retries and a test's `retries` (passing on a retry is flaky, in
-- every reporter; --fail-on-flaky fails the build), --repeat N --pass-rate R and a
-- test's repeats/pass_rate, infra failures retried in the open (every attempt kept).
local h = require "tests.runner.harness"
local tap = require "tap"
local report = require "evalua.report"

local dir = h.tmpdir()

local function run(argv, name)
  local out = ("%s/%s.json"):format(dir, name or "report")
  local args = { "-r", "json:" .. out, "--journal", dir .. "/journal" }
  table.move(argv, 1, #argv, #args + 1, args)
  local code = h.cli("test", args)
  return code, h.json(out), out
end

local code, data, json_path = run({ "tests/runner/flaky" })
local t = h.by_name(data)
tap.is(code, 1, "the suite fails: one test never passes, one misses its pass rate")
tap.is(t["passes on the second attempt"].outcome, "flaky", "a test passing on a retry is flaky")
tap.is(#t["passes on the second attempt"].attempts, 2, "with its two attempts")
tap.is(t["passes on the second attempt"].attempts[1].outcome, "failed", "the first failed")
tap.like(t["passes on the second attempt"].attempts[1].failures[1].message, "expected 1 to be at least 2",
  "and says why")
tap.is(t["never passes"].outcome, "failed", "a test failing every attempt fails")
tap.is(#t["never passes"].attempts, 2, "after 1 + 1 attempts")
tap.is(t["infra, then passes"].outcome, "flaky", "an infra failure then a pass is flaky")
tap.is(t["infra, then passes"].attempts[1].outcome, "infra", "the infra attempt is reported, not hidden")
tap.like(t["infra, then passes"].attempts[1].error.message, "connect error", "with its error")
tap.is(t["passes at once"].outcome, "passed", "a test passing at once is passed")
tap.is(t["passes at once"].attempts, nil, "with no attempts listed")
tap.is(data.summary.flaky, 2, "the summary counts flaky tests")
local rate = t["three of five"]
tap.is(rate and rate.kind, "pass_rate", "a repeated test with a pass rate has its own entry")
tap.is(rate.outcome, "passed", "3 of 5 repeats reach a 60% pass rate")
tap.like(rate.actual, "60%% %(3 of 5 repeats passed; 2 failed%)", "it shows the rate and the repeats")
tap.is(t["three of five [2/5]"].outcome, "failed", "each repeat is reported")
tap.is(t["three of five [2/5]"].rate_of, rate.id, "as a repeat of the pass-rate entry")
tap.is(t["two of four"].outcome, "failed", "2 of 4 repeats miss a 75% pass rate")
tap.like(t["two of four"].failures[1].message, "pass rate 75%% not met: 50%% %(2 of 4 repeats passed",
  "saying so")
tap.is(data.summary.repeats, 9, "repeats are counted apart from tests")
tap.is(data.summary.failed, 2, "failed: the test that never passes and the missed pass rate, not the repeats")

-- every reporter names the flaky test
local rendered = {}
for _, fmt in ipairs({ "pretty", "tap", "junit", "html" }) do rendered[fmt] = report.render(fmt, data) end
tap.like(rendered.pretty, "~ passes on the second attempt [^\n]* flaky: passed on attempt 2 of 3",
  "pretty: flaky, and on which attempt")
tap.like(rendered.pretty, "Flaky %(failed, then passed on a retry%) %(2%)", "pretty: a flaky section")
tap.like(rendered.pretty, "attempt 1: infra: connect error", "pretty: the infra attempt is shown")
tap.like(rendered.pretty, "2 flaky", "pretty: the footer counts flaky tests")
tap.like(rendered.tap, "\nok %d+ %- [^\n]*passes on the second attempt # flaky: passed on attempt 2 of 3\n",
  "TAP: ok with a # flaky comment")
tap.like(rendered.tap, "# TODO a repeat", "TAP: a failed repeat under a pass rate is a TODO")
tap.like(rendered.junit, '<testcase [^>]*name="passes on the second attempt"[^>]*>\n%s*<flakyFailure message="expected 1 '
  .. 'to be at least 2" type="failed">', "JUnit: <flakyFailure> inside the passing testcase")
tap.like(rendered.junit, '<flakyError message="[^"]*connect error[^"]*" type="infra.connect">',
  "JUnit: <flakyError type=infra.KIND> for the infra attempt")
tap.like(rendered.junit, '<failure message="expected 2 to be 0"[^>]*>.-<rerunFailure message="expected 1 to be 0"',
  "JUnit: a test that never passed has its earlier attempts as <rerunFailure>")
tap.ok(not rendered.junit:find('name="three of five [1/5]"', 1, true), "JUnit: repeats are inside their test")
tap.like(rendered.html, 'data%-outcome="flaky"', "HTML: the flaky outcome")
tap.like(rendered.html, '<option value="flaky">', "HTML: the filter knows it")
tap.like(rendered.html, "attempt 1: infra: connect error", "HTML: the attempts")
tap.like(h.read(json_path), '"outcome": ?"flaky"', "JSON: the flaky outcome")

-- JUnit read by real consumers: the schema, and junitparser (Debian python3-junitparser)
local xml = dir .. "/junit.xml"
h.write(xml, rendered.junit)
local out, ok = h.sh("xmllint --noout --schema tests/fixtures/junit/junit.xsd " .. xml)
tap.ok(ok, "JUnit with flaky tests validates against the JUnit schema")
if not ok then tap.diag(out) end
h.write(dir .. "/read.py", [[
import sys
from junitparser import JUnitXml
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        flaky = len(case._elem.findall("flakyFailure")) + len(case._elem.findall("flakyError"))
        print("%s|%s|%d" % (case.name, "passed" if case.is_passed else "not passed", flaky))
]])
out, ok = h.sh("/usr/bin/python3 " .. dir .. "/read.py " .. xml)
tap.ok(ok, "junitparser reads the report")
tap.like(out, "passes on the second attempt|passed|1\n", "junitparser: the flaky test passed, with its flaky failure")
tap.like(out, "never passes|not passed|0\n", "junitparser: the failing one did not pass")
tap.like(out, "three of five|passed|2\n", "junitparser: the pass-rate test passed, its failed repeats flaky")

-- --fail-on-flaky, --retries, --repeat --pass-rate from the command line
local fine = dir .. "/fine"
os.execute("mkdir -p " .. fine)
h.write(fine .. "/once_test.lua", [[
local n = 0
test("fails once", function()
  n = n + 1
  expect(n):to_be_at_least(2)
end)
]])
code = run({ fine })
tap.is(code, 1, "without retries a failure fails")
code, data = run({ "--retries", "1", fine })
tap.is(code, 0, "--retries 1: a test passing on its retry does not fail the build")
tap.is(data.tests[1].outcome, "flaky", "it is flaky")
h.write(dir .. "/flaky.tap", report.render("tap", data))
local prove, proved = h.sh("prove -e cat " .. dir .. "/flaky.tap")
tap.ok(proved and not prove:find("Parse errors", 1, true), "prove reads '# flaky' and passes the stream")
code = run({ "--retries", "1", "--fail-on-flaky", fine })
tap.is(code, 1, "--fail-on-flaky: a flaky test fails the build")
code, data = run({ "--repeat", "4", "--pass-rate", "0.75", fine })
tap.is(code, 0, "--repeat 4 --pass-rate 0.75: 3 of 4 pass")
tap.is(h.by_name(data)["fails once"].actual, "75% (3 of 4 repeats passed; 1 failed)", "and the rate is shown")
code = run({ "--repeat", "4", "--pass-rate", "100%", fine })
tap.is(code, 1, "--pass-rate 100%: one failed repeat fails")
tap.is(h.cli("test", { "--pass-rate", "0.5", fine }), 2, "--pass-rate without --repeat is a usage error")
tap.is(h.cli("test", { "--repeat", "2", "--pass-rate", "1.5", fine }), 2, "a pass rate above 1 is a usage error")
tap.is(h.cli("test", { "--retries", "-1", fine }), 2, "negative --retries is a usage error")

-- a pass rate over repeats split across shards is judged in the merge
local shards = {}
for k = 1, 2 do
  local _, part = run({ "--shard", k .. "/2", "--repeat", "4", "--pass-rate", "0.5", fine }, "shard" .. k)
  shards[k] = ("%s/shard%d.json"):format(dir, k)
  tap.is(h.by_name(part)["fails once"].outcome, "skipped", ("shard %d/2 leaves the pass rate to the merge"):format(k))
end
tap.is(h.cli("report", { "merge", shards[1], shards[2], "-o", dir .. "/merged.json" }), 0,
  "the merge judges the pass rate over all repeats")
tap.is(h.by_name(h.json(dir .. "/merged.json"))["fails once"].actual, "50% (2 of 4 repeats passed; 2 failed)",
  "over the repeats of both shards (each shard's first repeat failed)")

os.execute("rm -rf " .. dir)
tap.done()
