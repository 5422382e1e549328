-- `evalua test --baseline FILE` / `--save-baseline FILE` against the sandbox: thresholds
-- relative to a saved report ("topic_sequence_match 75% (was 100% in BASE, −25%)"),
-- the first baseline, never wrong-green (no --baseline, a baseline without the metric or
-- the file, a missing or corrupt or shard baseline file), a red session not saved unless
-- --save-baseline-always, and shards merged judged like one run.
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"
local json = require "cjson"

local dir = shell.tmpdir()

local envs = shell.sandbox_env(sandbox.start(), dir)
local ok, err = pcall(function()
  sandbox.control("config", { run_seconds = 0.3 })
  os.execute("mkdir -p " .. dir .. "/suite")
  shell.write(dir .. "/suite/support_test.lua", [[
local agentforce = require "evalua.agentforce"
local sf = agentforce.connect {}
test("support agent", function()
  if os.getenv("DEFINITION") == "none" then return end -- a session that measures nothing
  local run = sf:start(os.getenv("DEFINITION")):wait { timeout = "60s" }
  expect(run):to_be_completed()
end)
test("no run", function() expect(1):to_be(1) end)
threshold({
  pass_rate = { at_least = 0.25 },
  metrics = { topic_sequence_match = { no_worse_than = "2%" }, action_sequence_match = { no_worse_than = 0.3 } },
  scores = { bot_response_rating = { no_worse_than = 0.05 } },
})
]])
  -- `evalua test` on the suite with DEFINITION: output, exit code, the JSON report's
  -- thresholds by name.
  local function suite(definition, opts)
    os.remove(dir .. "/r.json")
    local out, code = shell.sh(("%sDEFINITION=%s bin/evalua test %s -r json:%s/r.json %s/suite"):format(
      envs, definition, opts or "", dir, dir), 120)
    local decoded, data = pcall(json.decode, shell.read(dir .. "/r.json") or "")
    local gates = {}
    for _, e in ipairs(decoded and data.tests or {}) do gates[e.name] = e end
    return out, code, gates, decoded and data or nil
  end
  local TSM = "threshold: topic_sequence_match pass rate >= baseline − 2%"
  local BRR = "threshold: mean bot_response_rating score >= baseline − 0.05"
  local bpath = dir .. "/base.json"

  -- no baseline given: the relative gates fail, saying why; nothing is saved from it
  local out, code, gates = suite("Order_Support_All_Pass", "--save-baseline " .. bpath)
  t.is(code, 1, "relative gates without --baseline: exit 1")
  t.is(gates[TSM].outcome, "failed", "the gate failed")
  t.like(gates[TSM].failures[1].message, "no baseline given", "saying there is no baseline")
  t.is(gates["threshold: pass rate >= 25%"].outcome, "passed", "{ at_least = N } as a plain minimum")
  t.ok(shell.read(bpath) == nil and out:find("baseline " .. bpath .. " not saved: the session did not pass (exit 1)",
    1, true), "a red session is not saved as the baseline, and it says so")

  -- the first baseline: relative gates skipped on request
  out, code, gates = suite("Order_Support_All_Pass", "--save-baseline " .. bpath .. " --baseline-missing=skip")
  t.is(code, 0, "--baseline-missing=skip: exit 0")
  t.like(gates[TSM].skip_reason or "", "no baseline given.*%-%-baseline%-missing=skip", "gate skipped with the reason")
  t.ok(out:find("saved baseline " .. bpath, 1, true), "saved, and it says so")
  local saved = json.decode(shell.read(bpath) or "{}")
  t.is(saved.format, "evalua-session/1", "the baseline is a JSON session report")
  local _, dcode = shell.sh(("bin/evalua report diff %s %s"):format(bpath, bpath))
  t.is(dcode, 0, "which report diff reads")

  -- the same agent again: no worse
  _, code, gates = suite("Order_Support_All_Pass", "--baseline " .. bpath)
  t.is(code, 0, "no worse than the baseline: exit 0")
  t.is(gates[TSM].outcome, "passed", "relative gate passed")
  t.like(gates[TSM].actual, "100%% %(3 of 3%); was 100%% %(3 of 3%) in " .. bpath:gsub("%p", "%%%0"),
    "actual shows now and then")
  local rec = gates[TSM].baseline or {}
  t.ok(rec.file == bpath and rec.by_test and rec.by_test["support agent"][1] == 3 and rec.by_test["support agent"][2] == 3,
    "what the gate measures in the baseline is recorded on the entry, per test")

  -- a regressed agent: 3/4 against 3/3
  local new_out, new_code, new_gates, new_data = suite("Billing_Agent_Regressions", "--baseline " .. bpath)
  t.is(new_code, 1, "worse than the baseline: exit 1")
  t.is(new_gates[TSM].failures[1].message, TSM .. " not met: topic_sequence_match 75% (was 100% in " .. bpath
    .. ", −25%)", "the failure says now, then, where and the change")
  t.like(new_gates[TSM].failures[1].expected, ">= 98%% %(100%% in .* − 2%%%)", "and what was expected")
  t.like(new_gates[BRR].failures[1].message, "mean bot_response_rating score 0.5975 %(was 0.91 in .*, −0.3125%)",
    "score gates: an absolute difference")
  t.is(new_gates["threshold: action_sequence_match pass rate >= baseline − 30%"].outcome, "passed",
    "a tolerance as a number (0.3): 75% against 100% passes")
  t.like(new_out, "topic_sequence_match 75%% %(was 100%% in", "pretty shows the message")
  t.is(new_data.baseline.file, bpath, "the report records the baseline it was judged against")

  -- verdicts lost (cases that erred) are not "no worse": counted as failing
  _, code, gates = suite("Broken_Agent_Run_Error", "--baseline " .. bpath)
  t.is(code, 1, "an agent whose cases err: exit 1")
  t.like(gates[TSM].failures[1].message, "topic_sequence_match 33%.33%% %(was 100%% in .*, −66%.67%%; 2 fewer cases "
    .. "with a verdict, counted as failing%)", "a rate over fewer verdicts (1 of 1) counts the lost ones as failing")
  t.like(gates[BRR].failures[1].message, "2 of the 3 cases scored then have no score now",
    "a mean over fewer scores fails, saying so")

  -- never wrong-green
  _, code, gates = suite("none", "--baseline " .. bpath)
  t.ok(code == 1 and gates[TSM].failures[1].message:find("topic_sequence_match: no case has a verdict for this "
    .. "metric (was 100% in " .. bpath .. ")", 1, true), "nothing measured now: the gate fails, saying what it was")
  out, code = suite("Order_Support_All_Pass", "--baseline " .. dir .. "/nope.json")
  t.ok(code == 2 and out:find("--baseline: cannot read " .. dir .. "/nope.json", 1, true),
    "a missing baseline file: exit 2 naming it")
  shell.write(dir .. "/corrupt.json", '{"format": "evalua-session/1", "tests": [')
  out, code = suite("Order_Support_All_Pass", "--baseline " .. dir .. "/corrupt.json")
  t.ok(code == 2 and out:find(dir .. "/corrupt.json: not a JSON report", 1, true), "a corrupt baseline: exit 2 naming it")
  shell.write(dir .. "/empty.json", json.encode({ format = "evalua-session/1", tests = {}, files = {} }))
  out, code = suite("Order_Support_All_Pass", "--baseline " .. dir .. "/empty.json")
  t.ok(code == 2 and out:find("empty.json: a report with no tests", 1, true), "a baseline with no tests: exit 2")
  local shard = json.decode(shell.read(bpath))
  shard.shard = "1/2"
  shell.write(dir .. "/shard.json", json.encode(shard))
  out, code = suite("Order_Support_All_Pass", "--baseline " .. dir .. "/shard.json")
  t.ok(code == 2 and out:find("the report of shard 1/2 only", 1, true), "a shard's report as baseline: exit 2")
  _, code = suite("Order_Support_All_Pass", "--baseline-missing=maybe")
  t.is(code, 2, "--baseline-missing takes fail or skip")

  local nometric = json.decode(shell.read(bpath))
  for _, e in ipairs(nometric.tests) do
    for _, r in ipairs(e.runs or {}) do
      for _, c in ipairs(r.cases or {}) do
        local kept = {}
        for _, m in ipairs(c.metrics or {}) do if m.name ~= "topic_sequence_match" then kept[#kept + 1] = m end end
        c.metrics = kept
      end
    end
  end
  shell.write(dir .. "/nometric.json", json.encode(nometric))
  _, code, gates = suite("Order_Support_All_Pass", "--baseline " .. dir .. "/nometric.json")
  t.is(code, 1, "a metric absent from the baseline: exit 1")
  t.like(gates[TSM].failures[1].message, "no baseline for topic_sequence_match: in .*nometric.json, no case has a "
    .. "verdict for this metric", "saying which metric and which file")
  _, code, gates = suite("Order_Support_All_Pass", "--baseline " .. dir .. "/nometric.json --baseline-missing=skip")
  t.ok(code == 0 and gates[TSM].outcome == "skipped", "skipped when asked")

  local elsewhere = json.decode(shell.read(bpath))
  for _, e in ipairs(elsewhere.tests) do e.file = "other/place_test.lua" end
  for _, f in ipairs(elsewhere.files) do f.path = "other/place_test.lua" end
  shell.write(dir .. "/elsewhere.json", json.encode(elsewhere))
  _, code, gates = suite("Order_Support_All_Pass", "--baseline " .. dir .. "/elsewhere.json")
  t.ok(code == 1 and gates[TSM].failures[1].message:find("elsewhere.json has no tests of " .. dir
    .. "/suite/support_test.lua", 1, true), "a baseline without the gate's file: exit 1 naming both")

  -- a red session saved on request, and said so
  local red = dir .. "/red.json"
  out, code = suite("Billing_Agent_Regressions", ("--baseline %s --save-baseline %s --save-baseline-always"):format(
    bpath, red))
  t.ok(code == 1 and json.decode(shell.read(red) or "{}").exit_code == 1, "--save-baseline-always saves a red session")
  t.ok(out:find("saved baseline " .. red .. " from a session that did not pass (exit 1)", 1, true), "and says so")
  out = suite("Order_Support_All_Pass", "--baseline " .. red)
  t.ok(out:find("note: baseline " .. red .. " is from a session that did not pass (exit 1)", 1, true),
    "and says so again when it is used")
  _, code = suite("Order_Support_All_Pass", "--save-baseline-always")
  t.is(code, 2, "--save-baseline-always alone: usage error")
  out, code = suite("Order_Support_All_Pass", ("--baseline %s --save-baseline %s/in/b.json"):format(bpath, bpath))
  t.ok(code == 3 and out:find("cannot write the baseline " .. bpath .. "/in/b.json", 1, true),
    "a baseline that cannot be written: exit 3 naming it")
  t.is(json.decode(shell.read(bpath)).format, "evalua-session/1", "and the old baseline is intact")
  out, code = suite("Order_Support_All_Pass", "--shard 1/2 --save-baseline " .. dir .. "/s.json")
  t.ok(code == 2 and out:find("save the merged report", 1, true), "--save-baseline of one shard: usage error")

  -- shards merged judge the relative gates as one run does
  for k = 1, 2 do
    shell.sh(("%sDEFINITION=Billing_Agent_Regressions bin/evalua test --shard %d/2 --baseline %s -r json:%s/s%d.json %s/suite")
      :format(envs, k, bpath, dir, k, dir), 120)
  end
  local _, mcode = shell.sh(("bin/evalua report merge %s/s1.json %s/s2.json -o %s/merged.json"):format(dir, dir, dir))
  local merged = {}
  for _, e in ipairs(json.decode(shell.read(dir .. "/merged.json") or "{}").tests or {}) do merged[e.name] = e end
  t.is(mcode, 1, "merged shards: exit 1, as unsharded")
  t.ok(merged[TSM] and merged[TSM].outcome == "failed"
    and merged[TSM].failures[1].message == new_gates[TSM].failures[1].message,
    "the merge judges the relative gate from the report data alone, the same way")

  -- --filter: the baseline is compared over the same tests, not the whole file's
  os.execute("mkdir -p " .. dir .. "/two")
  shell.write(dir .. "/two/two_test.lua", [[
local sf = require("evalua.agentforce").connect {}
for _, name in ipairs({ "A", "B" }) do
  test("agent " .. name, function() sf:start(os.getenv("DEF_" .. name)):wait { timeout = "60s" } end)
end
threshold({ metrics = { topic_sequence_match = { no_worse_than = "2%" } } })
]])
  local function two(defs, opts)
    local out2, code2 = shell.sh(("%s%s bin/evalua test %s -r json:%s/two.json %s/two"):format(envs, defs, opts, dir,
      dir), 120)
    local by = {}
    for _, e in ipairs(json.decode(shell.read(dir .. "/two.json") or "{}").tests or {}) do by[e.name] = e end
    return out2, code2, by
  end
  local TWO = "threshold: topic_sequence_match pass rate >= baseline − 2%"
  -- the baseline: A 3 of 3, B 2 of 3 (83% over both)
  _, code = two("DEF_A=Order_Support_All_Pass DEF_B=Travel_Agent_Case_Error",
    ("--save-baseline %s/two_base.json --baseline-missing=skip"):format(dir))
  t.is(code, 0, "a baseline of two tests")
  -- now A only, at about 90%: above the 83% of both tests then, below A's 100% then
  _, code, gates = two("DEF_A=Large_Regression_Suite", ("--filter 'agent A' --baseline %s/two_base.json"):format(dir))
  t.is(code, 1, "--filter: the selected test is compared with itself in the baseline")
  t.like(gates[TWO] and gates[TWO].failures[1] and gates[TWO].failures[1].message or "",
    "%(was 100%% in .*two_base%.json over the 1 of its 2 tests run now, −", "saying over which tests")

  -- bad gate forms are errors at the user's line
  os.execute("mkdir -p " .. dir .. "/bad")
  for _, c in ipairs({
    { '{ metrics = { m = { no_worse_than = "lots" } } }', "metrics%.m%.no_worse_than must be a number from 0 to 1" },
    { '{ scores = { m = { no_worse_than = "2%" } } }', "scores%.m%.no_worse_than must be a number >= 0" },
    { '{ metrics = { m = { at_most = 1 } } }', "unknown key at_most in metrics%.m" },
    { "{ pass_rate = {} }", "pass_rate must give at_least or no_worse_than" },
  }) do
    shell.write(dir .. "/bad/bad_test.lua", 'test("x", function() end)\nthreshold(' .. c[1] .. ")\n")
    out, code = shell.sh(("bin/evalua test --journal %s/j2 %s/bad"):format(dir, dir))
    t.ok(code == 3 and out:find("bad_test.lua:2: bad argument #1 to 'threshold'") and out:find(c[2]),
      "threshold" .. c[1] .. ": an error at the line")
  end
end)
sandbox.stop()
if not ok then t.ok(false, "baseline tests: " .. tostring(err)) end
if os.getenv("KEEPDIR") then print(dir) else os.execute("rm -rf " .. dir) end
t.done()
