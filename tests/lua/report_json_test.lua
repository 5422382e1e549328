-- The JSON report and report files in general: the whole session, written atomically,
-- secrets redacted, stdout reports never interleaved with test output, write errors.
local h = require "tests.runner.harness"
local tap = require "tap"
local report = require "evalua.report"
local session = require "evalua.runner.session"

local dir = h.tmpdir()
local data = h.session({ "tests/runner/passing", "tests/runner/runs/agent_test.lua" })

tap.is(data.format, "evalua-session/1", "the report says its format")
tap.ok(data.started_at and data.duration and data.summary and data.exit_code == 1, "session fields")
local quality
for _, t in ipairs(data.tests) do
  if t.name == "response quality" then quality = t end
end
tap.is(quality.outcome, "failed", "tests with outcomes")
tap.is(quality.output, "graded\t3\tcases", "with their output")
tap.is(quality.runs[1].cases[1].metrics[1].name, "bot_response_rating", "with runs, cases and metrics")
tap.is(quality.runs[1].cases[1].outputs.transcript[1].role, "user", "and the conversation")
tap.is(quality.runs[1].cases[1].metrics[1].passed, true, "verdicts stay booleans")

-- render, decode, render again: stable
local text = report.render("json", data)
local again = report.render("json", session.decode(text, "x"))
tap.is(again, text, "a JSON report reads back to the same report")
local empty = report.render("json", session.summarize({ format = session.FORMAT, files = {}, tests = {} }))
tap.like(empty, '"tests": ?%[%]', "empty lists stay JSON arrays")
local ok, err = pcall(session.decode, '{"format":"other"}', "bad.json")
tap.ok(not ok and err:find("bad.json: not an evalua session report", 1, true), "other JSON is refused by name")

-- files: atomic (no temporary left), mode 0600, secrets redacted
h.host.secret("s3cr3t-token")
local secret_test = dir .. "/secret_test.lua"
h.write(secret_test, 'test("leaks", function() print("token is s3cr3t-token") error("auth with s3cr3t-token") end)\n')
local out = dir .. "/out/deep/report.json"
local code = h.cli("test", { "-r", "json:" .. out, "-r", "junit:" .. dir .. "/out/r.xml", "--journal",
                             dir .. "/journal", secret_test })
tap.is(code, 3, "the test errored")
local written = h.read(out)
tap.ok(written ~= nil, "missing directories are created")
tap.ok(not written:find("s3cr3t", 1, true) and written:find("token is ***", 1, true) ~= nil,
  "secrets are redacted in the JSON report")
tap.ok(not h.read(dir .. "/out/r.xml"):find("s3cr3t", 1, true), "and in the JUnit report")
tap.is(h.sh("ls " .. dir .. "/out/deep"), "report.json\n", "no temporary file is left behind")
tap.is(h.sh("stat -c %a " .. out), "600\n", "report files are mode 0600")

-- a report that cannot be written: the others are still written, exit code 3
h.write(dir .. "/blocker", "")
code = h.cli("test", { "-r", "json:" .. dir .. "/blocker/x.json", "-r", "tap:" .. dir .. "/ok.tap",
                       "--journal", dir .. "/journal", "tests/runner/passing" })
tap.is(code, 3, "an unwritable report makes the run an error")
tap.like(h.read(dir .. "/ok.tap") or "", "^TAP version 13", "the other reports are still written")

-- TAP on stdout: the tests' print() output never interleaves, it is kept as comments
local stdout = dir .. "/stdout.tap"
h.cli("test", { "-r", "tap", "--journal", dir .. "/journal", "tests/runner/passing", "tests/runner/runs" }, stdout)
local stream = h.read(stdout)
local stray = {}
for line in stream:gmatch("[^\n]+") do
  if not (line:match("^ok ") or line:match("^not ok ") or line:match("^#") or line:match("^  ")
          or line:match("^1%.%.") or line:match("^TAP version")) then
    stray[#stray + 1] = line
  end
end
tap.is(#stray, 0, "stdout holds TAP only")
tap.like(stream, "\n# graded\t3\tcases\n", "print() output is a comment under its test")

os.execute("rm -rf " .. dir)
tap.done()
