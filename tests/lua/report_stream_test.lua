-- Reports streamed from what a finished test keeps: a session's JUnit and HTML files are
-- exactly what the same reporters make from its JSON report (the whole data); the JSON
-- report holds one line per test; a report whose file fails is left out, the others
-- written; an interrupted session says so in every report.
local h = require "tests.runner.harness"
local tap = require "tap"
local report = require "evalua.report"
local record = require "evalua.runner.record"
local session = require "evalua.runner.session"
local task = require "evalua.task"

local dir = h.tmpdir()

-- Run `evalua test argv...` with stdout and stderr to files; returns the exit code and stderr.
local function run(argv, interrupt_after)
  h.host.reset_interrupt()
  local saved_err, saved_out = io.stderr, io.stdout
  io.stderr = assert(io.open(dir .. "/stderr", "w")) -- luacheck: ignore 122
  io.stdout = io.tmpfile() -- luacheck: ignore 122
  local ok, code = pcall(h.host.run, function()
    if interrupt_after then
      task.spawn(function()
        task.sleep(interrupt_after)
        h.host.interrupt()
      end)
    end
    return require("evalua.cli.test").main(argv)
  end)
  io.stderr:close()
  io.stdout:close()
  io.stderr, io.stdout = saved_err, saved_out -- luacheck: ignore 122
  if not ok then error(code, 0) end
  return code, h.read(dir .. "/stderr")
end

-- A session with runs, failures and errors, all five reporters to files.
local code = run({ "-r", "json:" .. dir .. "/s.json", "-r", "junit:" .. dir .. "/s.xml", "-r", "html:" .. dir .. "/s.html",
                   "-r", "tap:" .. dir .. "/s.tap", "-r", "pretty:" .. dir .. "/s.txt", "--journal", dir .. "/journal",
                   "tests/runner/passing", "tests/runner/failing", "tests/runner/runs" })
tap.is(code, 1, "the session failed (some tests fail)")
local text = h.read(dir .. "/s.json")
local data = session.decode(text, "s.json")
local runs = 0
for _, e in ipairs(data.tests) do runs = runs + #e.runs end
tap.ok(runs >= 3, "the JSON report holds the tests' runs (" .. runs .. ")")
tap.is(h.read(dir .. "/s.xml"), report.render("junit", session.decode(text, "s.json")),
  "the streamed JUnit report is what JUnit makes of the whole session")
tap.is(h.read(dir .. "/s.html"), report.render("html", session.decode(text, "s.json")),
  "the streamed HTML report is what HTML makes of the whole session")
local lines, entries = 0, #data.tests + #data.files
for line in text:gmatch("[^\n]+") do
  if line:match('^    {".*}[,]?$') then lines = lines + 1 end
end
tap.is(lines, entries, "the JSON report: one line per file and per test")
tap.like(text, '^{\n  "argv": ', "the session's fields one per line, sorted")
tap.is(h.sh("ls " .. dir .. " | grep -c tmp; true"), "0\n", "no temporary file is left behind")

-- `report merge` streams the merged session to its file: what the reporter makes of it.
tap.is(h.cli("report", h.merge_argv({ dir .. "/s.json" }, {}, dir .. "/m.html")), 1, "a merge of the session")
tap.is(h.read(dir .. "/m.html"), report.render("html", session.merge({ session.decode(text, "s.json") })),
  "is written to its file piece by piece, the same page")
h.write(dir .. "/blocker", "")
tap.is(h.cli("report", h.merge_argv({ dir .. "/s.json" }, {}, dir .. "/blocker/m.xml")), 3,
  "a merged report that cannot be written: exit 3")

-- What a finished test keeps: its runs as one compact text, read back exactly.
local entry = { runs = { { provider = "fake", id = "R1", cases = {
  { name = "c1", metrics = { { name = "m", passed = true, score = 0.5 } } }, { name = "c2", metrics = {} },
} } } }
local copy = session.decode(('{"format":"%s","tests":[{"runs":%s}]}'):format(session.FORMAT,
  record.runs_json(entry)), "x").tests[1]
record.compact(entry)
tap.is(type(entry.runs), "string", "a compacted entry keeps its runs as text")
tap.is(record.runs_json(entry), record.encode(record.runs(entry), "runs"), "which decodes and encodes back to itself")
tap.is(record.runs(entry)[1].cases[1].metrics[1].score, copy.runs[1].cases[1].metrics[1].score, "with its values")
tap.like(record.runs_json(entry), "\"metrics\":%[%]", "an empty array stays an array")
h.host.secret("R1")
tap.is(report.runs(entry)[1].id, "***", "a secret registered after the test ended is masked when its runs are shown")

-- A report whose file cannot be written (a full disk): the others are written, exit 3.
local full
code, full = run({ "-r", "tap:/dev/full", "-r", "json:" .. dir .. "/ok.json", "--journal", dir .. "/journal",
                   "tests/runner/passing" })
tap.is(code, 3, "a report that cannot be written makes the session an error")
tap.like(full, "cannot write tap report /dev/full", "naming the report and its file")
tap.is(h.json(dir .. "/ok.json").summary.failed, 0, "the other report is written whole")

-- Ctrl-C: every report is written and says the session was interrupted.
local prefix = dir .. "/int"
run({ "-r", "json:" .. prefix .. ".json", "-r", "junit:" .. prefix .. ".xml", "-r", "html:" .. prefix .. ".html",
      "-r", "tap:" .. prefix .. ".tap", "-r", "pretty:" .. prefix .. ".txt", "--journal", dir .. "/ijournal",
      "tests/runner/interrupt" }, 5)
tap.ok(h.json(prefix .. ".json").interrupted, "JSON: interrupted")
tap.like(h.read(prefix .. ".tap"), "%(interrupted%)\n$", "TAP: the closing comment says interrupted")
tap.like(h.read(prefix .. ".xml"), '<property name="evalua.interrupted" value="true"/>', "JUnit: a property says so")
tap.like(h.read(prefix .. ".html"), "interrupted %(partial%)", "HTML: the header says so")
tap.like(h.read(prefix .. ".txt"), "interrupted: the results above are partial", "pretty: the summary says so")
tap.like(h.read(prefix .. ".xml"), '<skipped message="interrupted"/>', "the test cut short is skipped, not passed")

-- A session that crashes half-way (a bug in evalua): the reports are written and say
-- they are partial, in every format.
local real_plain, calls = session.plain, 0
session.plain = function(v) -- luacheck: ignore 122
  calls = calls + 1
  if calls == 2 then error("a bug in evalua") end
  return real_plain(v)
end
prefix = dir .. "/crash"
local ok, err = pcall(run, { "-r", "json:" .. prefix .. ".json", "-r", "junit:" .. prefix .. ".xml", "-r", "html:" .. prefix .. ".html",
  "-r", "tap:" .. prefix .. ".tap", "-r", "pretty:" .. prefix .. ".txt", "--jobs", "1", "--journal", dir .. "/cjournal",
  "tests/runner/runs" })
session.plain = real_plain -- luacheck: ignore 122
tap.ok(not ok and tostring(err):find("a bug in evalua", 1, true), "the crash is raised (exit 3)")
local crashed = h.json(prefix .. ".json")
tap.like(crashed.partial and crashed.partial[1] or "", "^the session stopped on an error before every test had run: .*a bug in evalua",
  "JSON: partial, saying why")
tap.like(h.read(prefix .. ".tap"), "# partial report: the session stopped on an error", "TAP: says so")
tap.like(h.read(prefix .. ".xml"), '<property name="evalua.partial" value="the session stopped on an error', "JUnit: says so")
tap.like(h.read(prefix .. ".html"), 'partial report:</b> the session stopped on an error', "HTML: says so")
tap.like(h.read(prefix .. ".txt"), "partial report: the session stopped on an error", "pretty: says so")

os.execute("rm -rf " .. dir)
tap.done()
