-- `evalua test` end to end on the fixture suites in tests/runner/: outcomes, exit
-- codes, selection, concurrency, output capture, run attribution, thresholds,
-- journal, interrupt and resume, shard merging.
local h = require "tests.runner.harness"
local tap = require "tap"

local dir = h.tmpdir()
local journal = dir .. "/journal"

-- Run `evalua test` with a JSON report; returns exit code and the report.
local function run(argv, name)
  local out = ("%s/%s.json"):format(dir, name or "report")
  local args = { "-r", "json:" .. out, "--journal", journal }
  for _, a in ipairs(argv) do args[#args + 1] = a end
  local code = h.cli("test", args)
  return code, h.json(out)
end

-- A file with a syntax error (made here: a broken file in the tree would fail luacheck).
local broken = dir .. "/broken"
os.execute("mkdir -p " .. broken)
h.write(broken .. "/a_syntax_test.lua", 'test("never declared", function()\n  expect(1):to_be(1)\nend\n')
h.write(broken .. "/b_fine_test.lua", 'test("still runs", function() expect(2):to_be(2) end)\n')

-- exit codes per outcome
local suites = {
  { "tests/runner/passing", 0 }, { "tests/runner/failing", 1 }, { "tests/runner/erroring", 3 },
  { "tests/runner/infra", 4 }, { "tests/runner/skipped", 0 }, { broken, 3 }, { "tests/runner/timeout", 4 },
  { "tests/runner/runs", 1 },
}
for _, c in ipairs(suites) do
  tap.is(run({ c[1] }), c[2], ("exit code %d for %s"):format(c[2], c[1]))
end
local code, data = run({ "tests/runner", broken })
tap.is(code, 3, "mixed outcomes: an error wins (3)")
tap.is(run({ "tests/runner/infra", "tests/runner/failing" }), 4, "infra wins over failures (4)")

-- usage errors
tap.is(h.cli("test", { "--jobs", "zero" }), 2, "bad --jobs is a usage error")
tap.is(h.cli("test", { "--shard", "4/3", "tests/runner/passing" }), 2, "bad --shard is a usage error")
tap.is(h.cli("test", { "--nope" }), 2, "unknown option is a usage error")
tap.is(h.cli("test", { "-r", "xml" }), 2, "unknown reporter is a usage error")
tap.is(h.cli("test", { "no/such/dir" }), 2, "missing path is a usage error")
tap.is(h.cli("test", { "--timeout", "soon", "tests/runner/passing" }), 2, "bad duration is a usage error")
tap.is(h.cli("test", { "--filter", "[", "tests/runner/passing" }), 2, "bad pattern is a usage error")

-- outcomes are kept apart, with file:line, expected and actual
local t = h.by_name(data)
tap.is(data.summary.total + data.summary.repeats, #data.tests, "summary counts every entry (repeats under a pass rate apart)")
tap.is(t["deep equality"].outcome, "failed", "assertion failure is failed")
local f = t["deep equality"].failures[1]
tap.is(("%s:%d"):format(f.file, f.line), "tests/runner/failing/assert_test.lua:3", "failure points at the expect line")
tap.like(f.diff, "first difference at %$%.cases%[2%]%.status", "failure has the diff path")
tap.is(#t["soft checks keep going"].failures, 2, "soft checks record every failure")
tap.is(t["soft checks keep going"].output, "still running after two failed checks", "test continued after checks")
tap.is(t["calls a nil value"].outcome, "error", "a Lua error is an error")
tap.like(t["calls a nil value"].error.message, "error_test%.lua:4: attempt to index a nil value", "error has file:line")
tap.ok(t["calls a nil value"].error.traceback ~= nil, "error keeps its traceback")
tap.is(t["service unreachable"].outcome, "infra", "a connect error is infra")
tap.is(t["service unreachable"].error.kind, "connect", "infra error keeps its kind")
tap.is(t["takes too long"].outcome, "infra", "a test past its timeout is infra (timeout)")
tap.is(t["skipped inside"].skip_reason, "not ready yet", "skip(reason) inside a test")
tap.is(t["skipped by option"].skip_reason, "flaky upstream", "opts.skip")
tap.is(t["one"].skip_reason, "block disabled", "skip() in describe skips the block")
tap.is(t["(loading the file)"].outcome, "error", "a syntax error is an error for that file")
tap.like(t["(loading the file)"].error.message, "a_syntax_test%.lua:4:", "the load error names the file and line")
tap.is(code, 3, "a broken file makes the session an error")
tap.is(t["still runs"].outcome, "passed", "the other files still run")
tap.is(t["prints are captured"].output, "hello from the test\t42", "print() is captured with its test")
tap.is(t["hooks ran in order"].full_name, "outer > inner > hooks ran in order", "describe names prefix the test")

-- runs are attributed to the test that started them; file-level runs to the file
local rq = t["response quality"]
tap.is(#rq.runs, 1, "the run started by a test is attached to it")
tap.is(rq.runs[1].provider .. ":" .. #rq.runs[1].cases, "fake:3", "with its cases")
tap.is(rq.runs[1].cases[2].metrics[1].score, 0.3, "and its metrics")
local shared_file
for _, file in ipairs(data.files) do
  if file.path:match("shared_test") then shared_file = file end
end
tap.is(shared_file and shared_file.runs[1].id, "SHARED", "a run started in before_all belongs to the file")
tap.is(#t["shared run has the metric"].runs, 0, "and not to a test")

-- thresholds
tap.is(t["threshold: pass rate >= 90%"].outcome, "failed", "threshold below its gate fails")
tap.like(t["threshold: pass rate >= 90%"].failures[1].message, "77%.78%% %(7 of 9 cases%)", "threshold says the value")
tap.is(t["threshold: topic_sequence_match pass rate >= 80%"].outcome, "passed", "metric threshold passes")
tap.is(t["threshold: mean bot_response_rating score >= 0.5"].outcome, "passed", "score threshold passes")
tap.is(t["threshold: topic_sequence_match pass rate >= 70%"].outcome, "passed", "threshold sees the file's runs")

-- selection
code, data = run({ "--filter", "routing", "tests/runner/runs" })
tap.is(#data.tests, 2 + 4, "--filter selects by full name (thresholds in scope come along)")
tap.is(h.by_name(data)["threshold: bot_response_rating pass rate >= 50%"].skip_reason,
  "no data among the selected tests", "a gate without data from the selected tests is skipped")
tap.is(code, 1, "the routing cases miss the 90% pass-rate gate")
code, data = run({ "--tag", "quality", "tests/runner/runs/agent_test.lua" })
tap.is(code, 1, "the selected quality test fails")
tap.is(h.by_name(data)["response quality"].outcome, "failed", "--tag selects tagged tests")
tap.is(h.by_name(data)["second routing run"], nil, "--tag leaves others out")
code, data = run({ "--repeat", "3", "tests/runner/passing" })
tap.is(code, 0, "repeated passing tests pass")
tap.is(data.summary.passed, 9, "--repeat runs each test N times")
tap.ok(h.by_name(data)["arithmetic [2/3]"] ~= nil, "repeats are numbered")
code, data = run({ "--bail", "--jobs", "1", "tests/runner/failing" })
tap.is(code, 1, "--bail still fails")
tap.is(data.summary.failed, 1, "--bail stops at the first failure")
tap.is(h.by_name(data)["fine"].skip_reason, "not run: stopped at the first failure (--bail)", "the rest is skipped")

-- concurrency: the runs take 30s, 20s and 5s of (virtual) time
code, data = run({ "--jobs", "1", "tests/runner/runs/agent_test.lua" })
tap.is(code, 1, "serial run has the same outcome")
tap.is(math.floor(data.duration + 0.5), 55, "--jobs 1 runs tests one after another")
code, data = run({ "tests/runner/runs/agent_test.lua" })
tap.is(code, 1, "concurrent run has the same outcome")
tap.is(math.floor(data.duration + 0.5), 30, "by default tests run concurrently")

-- sharding: shards partition the list; merged they equal the unsharded run
local paths = { "tests/runner/passing", "tests/runner/failing", "tests/runner/skipped", "tests/runner/infra",
                "tests/runner/runs/agent_test.lua" }
local _, full = run(paths, "full")
local shard_files, ids = {}, {}
for k = 1, 3 do
  local argv = { "--shard", k .. "/3" }
  for _, p in ipairs(paths) do argv[#argv + 1] = p end
  local _, part = run(argv, "shard" .. k)
  shard_files[k] = ("%s/shard%d.json"):format(dir, k)
  for _, e in ipairs(part.tests) do
    if e.kind == "test" then ids[e.id] = (ids[e.id] or 0) + 1 end
  end
end
local once, count = true, 0
for _, n in pairs(ids) do
  once = once and n == 1
  count = count + 1
end
tap.ok(once, "every test runs in exactly one shard")
local tests_in_full = 0
for _, e in ipairs(full.tests) do
  if e.kind == "test" then tests_in_full = tests_in_full + 1 end
end
tap.is(count, tests_in_full, "the shards together run every test")
local merged_path = dir .. "/merged.json"
local argv = { "merge" }
for _, p in ipairs(shard_files) do argv[#argv + 1] = p end
argv[#argv + 1] = "-o"
argv[#argv + 1] = merged_path
tap.is(h.cli("report", argv), full.exit_code, "merge exits like the unsharded run")
local merged = h.json(merged_path)
local function digest(d)
  local out = {}
  for _, e in ipairs(d.tests) do
    out[#out + 1] = table.concat({ e.id, e.outcome, e.name, e.failures[1] and e.failures[1].message or "" }, "|")
  end
  return table.concat(out, "\n")
end
tap.is(digest(merged), digest(full), "merged shards equal the unsharded run, in order")
tap.is_deeply(merged.summary, full.summary, "merged summary equals the unsharded summary")
argv[#argv] = dir .. "/merged.xml"
h.cli("report", argv)
local _, xml_ok = h.sh("xmllint --noout " .. dir .. "/merged.xml")
tap.ok(xml_ok, "merge writes JUnit for .xml")
tap.is(h.cli("report", { "merge", shard_files[1] }), 2, "merge without -o is a usage error")
tap.is(h.cli("report", { "merge", dir .. "/none.json", "-o", dir .. "/x.json" }), 2, "merge of a missing file")

-- the journal records every run started, and marks it finished
local jdata = require("evalua.journal").read(journal)
local finished = 0
for _, e in ipairs(jdata) do
  if e.finished then finished = finished + 1 end
end
tap.ok(#jdata > 0 and finished == #jdata, "every started run is journalled and marked finished")
local mode = h.sh("stat -c %a " .. journal)
tap.is(mode, "600\n", "the journal is mode 0600")
tap.is(jdata[1].run.provider, "fake", "journal lines hold the run descriptor")
tap.ok(jdata[1].test ~= nil or jdata[1].file == nil, "journal lines say which test started the run")

-- Ctrl-C: reports of what finished, a resume hint, runs left alone; then resume
local ijournal = dir .. "/ijournal"
local task = require "evalua.task"
h.host.reset_interrupt()
local err_path = dir .. "/stderr"
local saved_err, saved_out = io.stderr, io.stdout
io.stderr = assert(io.open(err_path, "w")) -- luacheck: ignore 122
io.stdout = io.tmpfile() -- luacheck: ignore 122
local icode = h.host.run(function()
  task.spawn(function()
    task.sleep(5)
    h.host.interrupt()
  end)
  return require("evalua.cli.test").main({ "-r", "json:" .. dir .. "/int.json", "-r", "tap:" .. dir .. "/int.tap",
                                           "--journal", ijournal,
                                           "tests/runner/interrupt" })
end)
io.stderr:close()
io.stdout:close()
io.stderr, io.stdout = saved_err, saved_out -- luacheck: ignore 122
local idata = h.json(dir .. "/int.json")
tap.ok(idata.interrupted, "the report says it was interrupted")
tap.is(h.by_name(idata)["quick"].outcome, "passed", "what finished is kept")
tap.is(h.by_name(idata)["long run"].skip_reason, "interrupted", "what was running is marked interrupted")
tap.like(h.read(err_path), "evalua resume %-%-journal", "says how to resume")
tap.ok(icode ~= nil, "the command returned")
local pending = require("evalua.journal").unfinished(ijournal)
tap.is(#pending, 1, "the interrupted run is unfinished in the journal")
tap.is(pending[1] and pending[1].run.id, "LONG", "it is the long run")

package.preload["evalua.fake"] = function() return dofile("tests/runner/fake_provider.lua") end
io.stderr = assert(io.open(err_path, "w")) -- luacheck: ignore 122
tap.is(h.cli("resume", { "--journal", ijournal, "--list" }, dir .. "/list.txt"), 0, "resume --list")
tap.like(h.read(dir .. "/list.txt"), "^fake:LONG .* by long run", "--list names the run and its test")
local rcode = h.cli("resume", { "--journal", ijournal, "-r", "json:" .. dir .. "/resumed.json" })
local again = h.cli("resume", { "--journal", ijournal })
io.stderr:close()
io.stderr = saved_err -- luacheck: ignore 122
tap.is(rcode, 0, "resume waits for the run and passes")
local resumed = h.json(dir .. "/resumed.json")
tap.is(resumed.tests[1].runs[1].id, "LONG", "the resumed report holds the run")
tap.is(#resumed.tests[1].runs[1].cases, 2, "with its cases")
tap.is(#require("evalua.journal").unfinished(ijournal), 0, "resumed runs are marked finished")
tap.is(again, 0, "nothing left to resume")

os.execute("rm -rf " .. dir)
tap.done()
