-- Verdicts CI can trust: no input makes `evalua test`, `resume` or `report merge` say
-- passed when nothing passed. Raises of any value, selections that match nothing,
-- lost shards, runs without a verdict.
local h = require "tests.runner.harness"
local tap = require "tap"

local dir = h.tmpdir()
local _

-- Exit code and stderr of `evalua <cmd> argv...` run in this process.
local function cli(cmd, argv)
  local saved = io.stderr
  local path = dir .. "/stderr"
  io.stderr = assert(io.open(path, "w")) -- luacheck: ignore 122
  local ok, code = pcall(h.cli, cmd, argv, dir .. "/stdout")
  io.stderr:close()
  io.stderr = saved -- luacheck: ignore 122
  if not ok then error(code, 0) end
  return code, h.read(path) .. h.read(dir .. "/stdout")
end

local function test_run(argv, name)
  local out = ("%s/%s.json"):format(dir, name or "report")
  local args = { "-r", "json:" .. out, "-r", "pretty:" .. dir .. "/pretty.txt", "--journal", dir .. "/journal" }
  table.move(argv, 1, #argv, #args + 1, args)
  local code, err = cli("test", args)
  return code, h.json(out), err
end

-- 7, 8: any raise is an error; rendering an error never fails and never stops the rest
local code, data = test_run({ "--jobs", "1", "tests/runner/verdicts/raise_test.lua", "tests/runner/verdicts/later_test.lua" })
local t = h.by_name(data)
tap.is(code, 3, "raises of nil or unprintable values make the session an error (exit 3)")
for _, name in ipairs({ "error()", "error(nil)", "assert(x, nil)", "error(false)" }) do
  tap.is(t[name] and t[name].outcome, "error", name .. " is an error, not a pass")
end
tap.like(t["error(nil)"].error.message, "raise_test%.lua:4: error raised with a nil value",
  "a nil raise says so, at the user's line")
tap.is(t["__tostring raises"].outcome, "error", "an error whose __tostring raises is an error")
tap.like(t["__tostring raises"].error.message, "__tostring failed: .*boom in tostring", "and says why it cannot be shown")
tap.is(t["__tostring returns a table"].outcome, "error", "an error whose __tostring returns a table is an error")
tap.like(t["__tostring returns a table"].error.message, "__tostring failed: .*must return a string", "and says so")
tap.is(t["after them"].outcome, "passed", "the tests after them run")
tap.is(t["in another file"].outcome, "passed", "and so do other files' tests")

-- 3: a selection that matches nothing is a usage error, never "0 tests" and a pass
local err
code, data, err = test_run({ "--filter", "no such test", "tests/runner/passing" })
tap.is(code, 2, "a --filter that matches nothing exits 2")
tap.like(err, "no test matched %-%-filter 'no such test' %(3 tests in 1 file%)", "and says so, with what there was")
tap.is(data.exit_code, 2, "the JSON report says 2 as well (a merge of it is not a pass)")
code, _, err = test_run({ "--tag", "nope", "tests/runner/passing", "tests/runner/failing" })
tap.is(code, 2, "a --tag that matches nothing exits 2")
tap.like(err, "no test matched %-%-tag 'nope' %(%d+ tests in 2 files%)", "and names the tag")
code, _, err = test_run({ "--shard", "5/5", "tests/runner/passing" })
tap.is(code, 2, "a shard that gets no test exits 2")
tap.like(err, "shard 5/5 has no test", "and says so")
h.write(dir .. "/empty_test.lua", "-- nothing declared\n")
code, _, err = test_run({ dir .. "/empty_test.lua" })
tap.is(code, 2, "files that declare no test exit 2")
tap.like(err, "no test declared %(0 tests in 1 file%)", "and say so")
code = test_run({ "--filter", "arithmetic", "tests/runner/passing" })
tap.is(code, 0, "a filter that matches still passes")

-- 2: a merge notices missing, repeated and inconsistent shards
local suite = { "tests/runner/passing", "tests/runner/failing", "tests/runner/skipped" }
local shard = {}
for k = 1, 3 do
  local argv = { "--shard", k .. "/3" }
  table.move(suite, 1, #suite, #argv + 1, argv)
  test_run(argv, "shard" .. k)
  shard[k] = ("%s/shard%d.json"):format(dir, k)
end
local function merge(files, extra)
  os.remove(dir .. "/merged.json")
  return cli("report", h.merge_argv(files, extra, dir .. "/merged.json"))
end
tap.is((merge(shard)), 1, "all three shards merge, and the failure in them fails the merge")
code, err = merge({ shard[1], shard[2] })
tap.is(code, 2, "a lost shard makes the merge a usage error (exit 2)")
tap.like(err, "shard 3/3 is missing %(have 1/3 from [^,]*shard1%.json, 2/3 from [^)]*shard2%.json%)",
  "naming the lost shard and the ones there")
tap.is(h.read(dir .. "/merged.json"), nil, "and writes no report that could pass for whole")
code, err = merge({ shard[1], shard[2], shard[2] })
tap.is(code, 2, "a repeated shard is an error")
tap.like(err, "shard 2/3 twice", "naming it")
test_run({ "--shard", "2/4", table.unpack(suite) }, "other")
code, err = merge({ shard[1], dir .. "/other.json", shard[3] })
tap.is(code, 2, "shards of different N are an error")
tap.like(err, "shard counts differ", "saying so")
test_run({ "--shard", "2/3", "tests/runner/passing", "tests/runner/failing" }, "fewer")
code, err = merge({ shard[1], dir .. "/fewer.json", shard[3] })
tap.is(code, 2, "shards of different test lists are an error")
tap.like(err, "test lists differ", "saying so")
local other = h.json(shard[2])
other.evalua = "0.0.1-other"
h.write(dir .. "/version.json", require("cjson").encode(other))
code, err = merge({ shard[1], dir .. "/version.json", shard[3] })
tap.is(code, 2, "shards from different evalua versions are an error")
tap.like(err, "evalua versions differ", "saying so")
_, err = merge({ shard[1], shard[2] }, { "--allow-partial" })
tap.like(err, "shard 3/3 is missing.*merged anyway", "--allow-partial merges anyway, still naming the lost shard")
local partial = h.json(dir .. "/merged.json")
tap.like(partial.partial and partial.partial[1] or "", "shard 3/3 is missing", "and marks the JSON report partial")
local rendered = {}
for _, fmt in ipairs({ "junit", "tap", "html", "pretty" }) do
  rendered[fmt] = require("evalua.report").render(fmt, require("evalua.runner.session").decode(
    h.read(dir .. "/merged.json"), "merged.json"))
end
tap.like(rendered.junit, '<property name="evalua.partial" value="shard 3/3 is missing', "JUnit says partial")
tap.like(rendered.tap, "\n# partial report: shard 3/3 is missing", "TAP says partial")
tap.like(rendered.html, 'class="partial".-shard 3/3 is missing', "HTML says partial")
tap.like(rendered.pretty, "partial report: shard 3/3 is missing", "pretty says partial")

-- issue 11 item 9, 5: finished in the journal once reported; a confirmed cancel at once
package.preload["evalua.fake"] = function() return dofile("tests/runner/fake_provider.lua") end
local fake = require "evalua.fake"
local jpath = dir .. "/journal"
rawset(_G, "VERDICTS_JOURNAL", jpath) -- read by tests/runner/verdicts/journal_test.lua
os.remove(jpath)
_, data = test_run({ "--jobs", "1", "tests/runner/verdicts/journal_test.lua" })
t = h.by_name(data)
tap.is(t["its end is not journalled before the report"].outcome, "passed",
  "a run that ended is not finished in the journal while no report holds it")
tap.is(t["a run cancelled by evalua"].outcome, "passed", "a run evalua cancelled is journalled as such at once")
local jl = require("evalua.journal")
tap.is(#jl.unfinished(jpath), 0, "once the reports are written, nothing is left unfinished")

-- resume: journals written by hand
local function resume(lines, argv)
  local path = dir .. "/rjournal"
  h.write(path, table.concat(lines, "\n") .. "\n")
  local a = { "--journal", path, "-r", "json:" .. dir .. "/resumed.json" }
  table.move(argv or {}, 1, #(argv or {}), #a + 1, a)
  os.remove(dir .. "/resumed.json")
  local c, e = cli("resume", a)
  return c, h.read(dir .. "/resumed.json") and h.json(dir .. "/resumed.json"), e, path
end
local started = h.started_line
local function scored(name, score)
  return { name = name, status = "completed", metrics = { { name = "rating", score = score } } }
end
fake.resumable.NOV = { cases = { scored("Refund request", 5.1), scored("Order status", 9) } }
fake.resumable.EMPTY = { cases = { { name = "replay", status = "completed", metrics = {} } } }
fake.resumable.NONE = { cases = {} }
fake.resumable.FAIL = { cases = { { name = "Refund request", status = "completed",
  metrics = { { name = "topic_sequence_match", passed = false, score = 0.2, expected = "Refunds",
                actual = "Orders", reason = "routed to the wrong topic" } } } } }

local rdata, rerr
code, rdata = resume({ started("NOV"), started("EMPTY"), started("NONE") })
tap.is(code, 1, "resume: runs without a verdict are not a pass (exit 1)")
local r = h.by_name(rdata)
for _, id in ipairs({ "NOV", "EMPTY", "NONE" }) do
  tap.is(r["fake:" .. id].outcome, "no_verdict", "resume: " .. id .. " is reported as no verdict")
end
tap.like(r["fake:NOV"].failures[1].message, "no verdict: 2 of 2 cases have no pass/fail verdict %(Refund request, "
  .. "Order status%): grade it %(%-%-grader FILE%), or give a pass mark %(%-%-pass%-score N%)", "saying what to do")
tap.is(rdata.summary.no_verdict, 3, "the summary counts them")
tap.like(h.read(dir .. "/stdout"), "^evalua resume: 3 runs\n", "resume's header counts its runs, and only once")
tap.like(h.read(dir .. "/stdout"), "\n3 runs: 0 passed, 0 failed, 3 no verdict", "and the footer agrees")
code = resume({ started("NOV") }, { "--accept-no-verdict" })
tap.is(code, 0, "--accept-no-verdict accepts them")
code = resume({ started("NOV") }, { "--pass-score", "5" })
tap.is(code, 0, "--pass-score lets resume judge a scored run (5.1 and 9 reach 5)")
code, rdata = resume({ started("NOV") }, { "--pass-score", "8" })
tap.is(code, 1, "a pass mark the scores miss fails")
tap.like(rdata.tests[1].failures[1].message, "case Refund request failed: metric rating failed %(score 5.1%)",
  "naming the case, the metric and the score")
h.write(dir .. "/grader.lua", "return function(case) return case.name ~= 'Refund request', 'too slow' end\n")
code, rdata = resume({ started("NOV") }, { "--grader", dir .. "/grader.lua" })
tap.is(code, 1, "--grader judges each case")
tap.like(rdata.tests[1].failures[1].message, "case Refund request failed: too slow", "with the grader's reason")
_, rdata = resume({ started("FAIL") })
tap.like(rdata.tests[1].failures[1].message, "case Refund request failed: metric topic_sequence_match failed "
  .. "%(score 0%.2, expected Refunds, actual Orders, reason: routed to the wrong topic%)",
  "a failed case says which metric failed, and why")
code = resume({ started("NOV") }, { "--grader", dir .. "/none.lua" })
tap.is(code, 2, "a missing grader is a usage error")

-- issue 10 item 2: base URLs from the configuration, never from the journal
fake.base_url = "http://127.0.0.1:8001/api"
code, rdata = resume({ started("ELSEWHERE", "http://evil.example:9/api") })
tap.is(code, 2, "resume: a journal run at another origin is a configuration error (exit 2)")
tap.like(rdata.tests[1].error.message, "journal names host http://evil%.example:9, configured host is "
  .. "http://127%.0%.0%.1:8001", "naming both hosts")
tap.is(fake.contacted["http://evil.example:9/api"], nil, "and the journal's host is not contacted")
tap.is(#jl.unfinished(dir .. "/rjournal"), 1, "the run stays unfinished in the journal")
code = resume({ started("ELSEWHERE", "http://evil.example:9/api") }, { "--allow-origin", "http://evil.example:9" })
tap.is(code, 0, "--allow-origin names an origin resume may contact")
tap.is(fake.contacted["http://evil.example:9/api"], 1, "and then it is contacted")
code = resume({ started("SAME", "http://127.0.0.1:8001/api") })
tap.is(code, 0, "a journal run at the configured origin resumes")
fake.base_url = nil

-- issue 10 item 9: malformed records are skipped, each named; the rest resume
code, rdata, rerr = resume({ started("GOOD1"),
  '{"event":"started","key":"fake:T","run":{"provider":"fake","id":"T"},"test":{}}',
  '{"event":"started","key":"fake:F","run":{"provider":"fake","id":"F"},"file":{"a":1}}',
  '{"event":"started","key":"fake:NORUN"}', "not json at all", started("GOOD2") })
tap.is(code, 0, "resume: malformed journal records do not stop the good runs")
tap.is(rdata and #rdata.tests, 2, "both good runs are resumed")
tap.like(rerr, "skipped 4 unreadable journal line%(s%)", "the bad lines are counted")
tap.like(rerr, 'rjournal:2: "test" is a table, not a string', "each named by its line, with the reason")
tap.like(rerr, 'rjournal:3: "file" is a table', "a file that is a table")
tap.like(rerr, 'rjournal:4: no "run" descriptor', "a record without its run")
code = cli("resume", { "--journal", dir .. "/rjournal", "--list" })
tap.is(code, 0, "resume --list copes with them as well")

-- item 5 through resume: a run journalled as cancelled by evalua is not resumed
code, _, rerr = resume({ started("C1"), '{"event":"cancelled","key":"fake:C1","status":"cancelled"}' })
tap.is(code, 0, "a run evalua cancelled is not resumed")
tap.like(rerr, "nothing to resume", "nothing to resume")

-- issue 10 item 7: no symlink followed
h.write(dir .. "/target", "")
os.execute(("ln -sf %s/target %s/link"):format(dir, dir))
code, rerr = cli("resume", { "--journal", dir .. "/link" })
tap.is(code, 2, "a journal that is a symbolic link is refused")
tap.like(rerr, "symbolic link: refusing to follow it", "saying so")

os.execute("rm -rf " .. dir)
tap.done()
