-- The TAP reporter: TAP version 13 that prove accepts, YAML diagnostics with expected
-- and actual, test output as comments, the plan at the end.
local h = require "tests.runner.harness"
local tap = require "tap"
local report = require "evalua.report"

local data = h.session({ "tests/runner/passing", "tests/runner/failing", "tests/runner/skipped",
                         "tests/runner/infra", "tests/runner/erroring" })
local text = report.render("tap", data)
local dir = h.tmpdir()
local file = dir .. "/out.tap"
h.write(file, text)

tap.like(text, "^TAP version 13\n", "starts with the version line")
tap.like(text, "\n1%.%.%d+\n", "has a plan")
tap.like(text, "\nok %d+ %- tests/runner/skipped/skip_test%.lua > skipped inside # SKIP not ready yet\n",
  "skipped tests carry a SKIP directive")
tap.like(text, "\nnot ok %d+ %- tests/runner/infra/infra_test%.lua > service unreachable\n  %-%-%-\n  outcome: infra",
  "infra failures are not ok with their outcome")
tap.like(text, '\n# hello from the test\t42\n', "test output is a comment")

-- prove accepts it and counts what failed
local out, ok = h.sh("prove -e cat " .. file)
tap.ok(not ok, "prove fails the stream (there are failures)")
tap.like(out, "Failed %d+/%d+ subtests", "prove parsed every test line")
tap.ok(not out:find("Parse errors", 1, true), "prove reports no parse errors")

-- the YAML blocks parse, with expected/actual and file:line
local perl = [[
use TAP::Parser;
open(my $fh, '<', $ARGV[0]) or die;
my $p = TAP::Parser->new({ tap => do { local $/; <$fh> } });
while (my $r = $p->next) {
  next unless $r->is_yaml;
  my $d = $r->data;
  my $f = ($d->{failures} || [])->[0] || {};
  print join('|', $d->{outcome}, $d->{at} // '', $f->{at} // '', $f->{expected} // '', $f->{actual} // ''), "\n";
}
print 'parse errors: ', scalar($p->parse_errors), "\n";
]]
h.write(dir .. "/yaml.pl", perl)
local yaml = h.sh("perl " .. dir .. "/yaml.pl " .. file)
tap.like(yaml, "parse errors: 0", "TAP::Parser reads the stream without errors")
tap.like(yaml, "failed|tests/runner/failing/assert_test%.lua:7|tests/runner/failing/assert_test%.lua:8|truthy|false",
  "YAML holds outcome, file:line, expected and actual")
tap.like(yaml, "\nerror|tests/runner/erroring/error_test%.lua:2|||", "errors have a YAML block")

-- special characters in names stay on one line and do not start a directive
local odd = { format = "evalua-session/1", files = {}, summary = { passed = 1, failed = 0, error = 0, infra = 0,
  skipped = 0, total = 1 }, tests = { { kind = "test", id = "x#1", file = "x_test.lua", name = "a # b\nc",
  full_name = "a # b\nc", outcome = "passed", failures = {}, runs = {} } } }
tap.like(report.render("tap", odd), "ok 1 %- x_test%.lua > a \\# b c\n", "# is escaped and newlines folded")

-- through bin/evalua when it is built: prove --exec 'bin/evalua test -r tap'
local f = io.open("bin/evalua", "r")
if f then
  f:close()
  out, ok = h.sh("prove --exec 'bin/evalua test -r tap' tests/runner/passing/basic_test.lua "
    .. "tests/runner/skipped/skip_test.lua", 120)
  tap.ok(ok, "prove --exec 'bin/evalua test -r tap' passes on passing suites")
  tap.like(out, "Result: PASS", "prove says PASS")
  out, ok = h.sh("prove --exec 'bin/evalua test -r tap' tests/runner/failing/assert_test.lua", 120)
  tap.ok(not ok and out:find("Failed 2/3 subtests", 1, true) ~= nil, "and fails a failing suite")
else
  tap.diag("bin/evalua not built: prove --exec checks skipped")
end

os.execute("rm -rf " .. dir)
tap.done()
