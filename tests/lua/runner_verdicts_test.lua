-- Verdicts CI can trust: no input makes `evalua test`, `resume` or `report merge` say
-- passed when nothing passed. Raises of any value, selections that match nothing,
-- lost shards, runs without a verdict.
local h = require "tests.runner.harness"
local tap = require "tap"

local dir = h.tmpdir()

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
  local argv = { "merge" }
  table.move(files, 1, #files, 2, argv)
  table.move(extra or {}, 1, #(extra or {}), #argv + 1, argv)
  argv[#argv + 1] = "-o"
  argv[#argv + 1] = dir .. "/merged.json"
  os.remove(dir .. "/merged.json")
  return cli("report", argv)
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
code, err = merge({ shard[1], shard[2] }, { "--allow-partial" })
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

os.execute("rm -rf " .. dir)
tap.done()
