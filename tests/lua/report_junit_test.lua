-- The JUnit reporter: well-formed XML (xmllint) shaped as Jenkins and GitLab read it:
-- testsuites > testsuite (name, tests, failures, errors, skipped, time) > testcase
-- (classname, name, time) > failure / error / skipped with a message.
local h = require "tests.runner.harness"
local tap = require "tap"
local report = require "evalua.report"

local dir = h.tmpdir()
local data = h.session({ "tests/runner/passing", "tests/runner/failing", "tests/runner/skipped",
                         "tests/runner/infra", "tests/runner/erroring", "tests/runner/runs/agent_test.lua" })
local file = dir .. "/junit.xml"
h.write(file, report.render("junit", data))

local function xpath(expr)
  local out = h.sh(("xmllint --xpath %q %s"):format(expr, file))
  return (out:gsub("%s+$", ""))
end

local _, wellformed = h.sh("xmllint --noout " .. file)
tap.ok(wellformed, "xmllint: well-formed")
tap.is(xpath("count(/testsuites)"), "1", "one testsuites root")
tap.is(xpath("string(/testsuites/@tests)"), tostring(data.summary.total), "testsuites counts every test")
tap.is(xpath("string(/testsuites/@failures)"), tostring(data.summary.failed), "testsuites counts failures")
tap.is(xpath("string(/testsuites/@errors)"), tostring(data.summary.error + data.summary.infra),
  "errors count bugs and infra")
tap.is(xpath("string(/testsuites/@skipped)"), tostring(data.summary.skipped), "testsuites counts skipped")
tap.is(xpath("count(/testsuites/testsuite)"), "6", "one testsuite per file")
tap.is(xpath("count(/testsuites/testsuite[not(@name) or not(@tests) or not(@failures) or not(@errors) "
  .. "or not(@skipped) or not(@time)])"), "0", "every testsuite has name, tests, failures, errors, skipped, time")
tap.is(xpath("count(//testcase[not(@classname) or not(@name) or not(@time)])"), "0",
  "every testcase has classname, name and time")
tap.is(xpath("count(//testcase)"), tostring(data.summary.total), "one testcase per test")
tap.is(xpath("string(//testsuite[@name='tests/runner/failing/assert_test.lua']/@failures)"), "2",
  "a suite counts its failures")
tap.is(xpath("string(//testcase[@name='deep equality']/@classname)"), "tests.runner.failing.assert_test",
  "classname is the file as a dotted name")
tap.like(xpath("string(//testcase[@name='deep equality']/failure/@message)"), "^expected {cases = ",
  "failure has a message")
tap.like(xpath("string(//testcase[@name='deep equality']/failure)"),
  "at tests/runner/failing/assert_test%.lua:3\nexpected: .*\nactual: .*first difference at %$%.cases%[2%]%.status",
  "failure text has file:line, expected, actual and the diff")
tap.is(xpath("count(//testcase[@name='soft checks keep going']/failure)"), "2", "each soft check is a failure")
tap.is(xpath("string(//testcase[@name='service unreachable']/error/@type)"), "infra.connect",
  "infra errors are typed infra.KIND")
tap.is(xpath("string(//testcase[@name='calls a nil value']/error/@type)"), "error", "bugs are type error")
tap.is(xpath("string(//testcase[@name='skipped inside']/skipped/@message)"), "not ready yet",
  "skipped has the reason as message")
tap.like(xpath("string(//testcase[@name='response quality']/system-out)"),
  "run fake:F%d+ completed\n  case case 1 passed\n    bot_response_rating PASS score=0%.9",
  "per-case metrics go to system-out")
tap.like(xpath("string(//testcase[@name='prints are captured']/system-out)"), "hello from the test",
  "test output goes to system-out")
tap.is(xpath("string(//testcase[@name='threshold: pass rate >= 90%']/failure/@type)"), "threshold",
  "threshold failures are typed threshold")

-- everything is escaped; characters XML forbids are replaced
local nasty = "<b> & \"q\" 'a' \1\27 \255 é"
local odd = { format = "evalua-session/1", started_at = "2025-01-01T00:00:00Z", duration = 1,
  files = { { path = "odd_test.lua", index = 1, output = nasty } },
  summary = { total = 1, passed = 0, failed = 1, error = 0, infra = 0, skipped = 0 },
  tests = { { kind = "test", id = "odd#1", file = "odd_test.lua", name = nasty, full_name = nasty,
    outcome = "failed", duration = 0.5, output = nasty, runs = {},
    failures = { { message = nasty, expected = nasty, actual = "]]> " .. nasty, file = "odd_test.lua", line = 1 } } } } }
h.write(file, report.render("junit", odd))
local out, ok = h.sh("xmllint --noout " .. file)
tap.ok(ok, "names, messages and output with markup and control bytes stay well-formed")
if not ok then tap.diag(out) end
tap.like(xpath("string(//testcase/@name)"), "^<b> & \"q\" 'a' ", "markup survives escaping")

os.execute("rm -rf " .. dir)
tap.done()
