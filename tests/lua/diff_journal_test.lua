-- `evalua report diff --journal PATH BASE NEW` against the sandbox: runs named by
-- provider:id or last/last~N, their results fetched from the service (the journal keeps
-- only ids), matched case by case; a run at another origin is not contacted; and the
-- services' own comparison (Future AGI eval-summary-comparison) beside evalua's, with
-- --journal and with --service on JSON reports; the latency and tokens of two Agentforce
-- Studio runs. Never wrong-green: an unknown run, no pair to compare, a service that
-- cannot be reached.
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"
local json = require "cjson"

local dir = shell.tmpdir()
local RUN_TEST = "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30" -- the sandbox's seeded Future AGI run test

local envs = shell.sandbox_env(sandbox.start(), dir)
local journal = dir .. "/journal"
local function diff(args)
  return shell.sh(("%sbin/evalua report diff %s"):format(envs, args), 120)
end

local ok, err = pcall(function()
  sandbox.control("config", { run_seconds = 0.3 })
  shell.write(dir .. "/runs.lua", ([[
local sf = require("evalua.agentforce").connect {}
for _, def in ipairs({ "Order_Support_All_Pass", "Order_Support_All_Pass", "Broken_Agent_Run_Error" }) do
  pcall(function() sf:start(def):wait { timeout = "60s" } end)
end
local fi = require("evalua.futureagi").connect {}
for _ = 1, 2 do fi:start("%s"):wait { timeout = "60s" } end
]]):format(RUN_TEST))
  local out, code = shell.sh(("%sbin/evalua run %s/runs.lua"):format(envs, dir), 120)
  t.is(code, 0, "five runs journalled") if code ~= 0 then t.diag(out) end
  local keys = {}
  for line in (shell.read(journal) or ""):gmatch("[^\n]+") do
    local e = json.decode(line)
    if e.event == "started" then keys[#keys + 1] = e.key end
  end
  t.is(#keys, 5, "the journal holds them")

  -- the same definition twice, by provider:id: matched case by case, nothing regressed
  out, code = diff(("--journal %s %s %s --format json"):format(journal, keys[1], keys[2]))
  local d = code <= 1 and json.decode(out) or {}
  t.is(code, 0, "two runs of the same agent: exit 0")
  t.is(d.summary and d.summary.cases_compared, 3, "their 3 cases fetched from the service and matched")
  t.ok(d.base and d.base.name:find(keys[1], 1, true) and d.new.name:find(keys[2], 1, true), "BASE and NEW named by run")

  -- then a broken agent: regressions, case by case
  out, code = diff(("--journal %s %s %s"):format(journal, keys[2], keys[3]))
  t.is(code, 1, "the broken run regressed: exit 1")
  t.like(out, "test [^\n]*%(run from the journal%): passed %-> failed", "the run's outcome passed -> failed")
  t.like(out, "case agentforce run 1: #2 I want to return the blue sweater[^\n]*: PASS %-> FAIL",
    "a case that passed and now errs")

  -- Future AGI: last~1 and last are two executions of one run test: the service's own
  -- comparison is shown beside evalua's, and agrees with it
  out, code = diff(("--journal %s last~1 last --format json"):format(journal))
  d = code <= 1 and json.decode(out) or {}
  t.ok(code <= 1 and d.service and #d.service == 1, "--journal: the service's comparison, automatically")
  local row_keys = 0
  for _, c in ipairs(d.cases or {}) do
    if c.change ~= "new" and c.change ~= "vanished" and c.key:match("^futureagi run 1: scenario %S+ row %d+$") then
      row_keys = row_keys + 1
    end
  end
  t.ok(row_keys > 1 and row_keys == d.summary.cases_compared, "the executions' calls matched by scenario and row")
  local sv = d.service and d.service[1] or { evals = {} }
  t.ok(sv.run_test_id == RUN_TEST and sv.base_run == keys[4]:match(":(.*)") and sv.new_run == keys[5]:match(":(.*)"),
    "of the two executions of the run test")
  local agree, pass_fail = true, 0
  for _, e in ipairs(sv.evals) do
    if e.kind == "pass rate" then
      pass_fail = pass_fail + 1
      agree = agree and e.ours.base and math.abs(e.base - e.ours.base.rate) < 0.01
        and math.abs(e.new - e.ours.new.rate) < 0.01
    end
  end
  t.ok(pass_fail > 0 and agree, "the service's pass rates beside evalua's own, which agree")
  out = diff(("--journal %s last~1 last"):format(journal))
  t.like(out, "Future AGI's own comparison %(eval%-summary%-comparison%)", "pretty: a section of its own")
  t.like(out, "; evalua %d+%.%d%% %(%d/%d%) %->", "with evalua's figures beside the service's")

  -- --service on JSON reports of two executions
  os.execute("mkdir -p " .. dir .. "/fi")
  shell.write(dir .. "/fi/fi_test.lua", ([[
test("calls", function()
  local run = require("evalua.futureagi").connect({}):start("%s"):wait { timeout = "60s" }
  run:results()
end)
]]):format(RUN_TEST))
  for _, side in ipairs({ "a", "b" }) do
    shell.sh(("%sbin/evalua test %s/fi -r json:%s/%s.json"):format(envs, dir, dir, side), 120)
  end
  out, code = diff(("%s/a.json %s/b.json --service --format json -o %s/s.html"):format(dir, dir, dir))
  d = code <= 1 and json.decode(out) or {}
  t.ok(code <= 1 and d.service and d.service[1] and d.service[1].run_test_id == RUN_TEST, "--service on JSON reports")
  t.like(shell.read(dir .. "/s.html") or "", 'class="service" data%-run%-test="' .. RUN_TEST:gsub("%-", "%%-"),
    "and in the HTML view")
  out, code = diff(("%s/a.json %s/b.json"):format(dir, dir))
  t.ok(code <= 1 and not out:find("own comparison", 1, true), "without --service, JSON reports are not sent anywhere")

  -- latency and tokens (Agentforce Studio tests report them per case): shown, not judged
  os.execute("mkdir -p " .. dir .. "/studio")
  shell.write(dir .. "/studio/studio_test.lua", [[
test("studio", function()
  require("evalua.agentforce").connect({ api = "ai-testing" }):start("Order_Support_All_Pass"):wait { timeout = "60s" }
end)
]])
  for _, side in ipairs({ "s1", "s2" }) do
    shell.sh(("%sbin/evalua test %s/studio -r json:%s/%s.json"):format(envs, dir, dir, side), 120)
  end
  out, code = diff(("%s/s1.json %s/s2.json --format json"):format(dir, dir))
  d = code <= 1 and json.decode(out) or {}
  local u = d.usage and d.usage.overall or {}
  t.ok(code == 0 and u.base and u.base.latency_p50 == 926 and u.base.latency_p95 == 1039 and u.new.latency_p95 == 1039
    and u.latency_p95_delta == 0 and u.base.tokens and u.base.tokens > 0, "latency p50/p95 and tokens of the two runs")
  t.ok(d.usage and #d.usage.runs == 1 and d.usage.runs[1].run == "agentforce run 1", "and of the matched pair of runs")

  -- never wrong-green
  out, code = diff(("--journal %s agentforce:NOPE last"):format(journal))
  t.ok(code == 2 and out:find("no run agentforce:NOPE in journal " .. journal, 1, true), "an unknown run: exit 2")
  out, code = diff(("--journal %s %s %s"):format(journal, keys[1], keys[1]))
  t.ok(code == 2 and out:find("are the same run", 1, true), "a run compared with itself: exit 2")
  out, code = diff(("--journal %s last~99 last"):format(journal))
  t.ok(code == 2 and out:find("has %d+ runs: no last~99"), "last~N past the oldest: exit 2")
  out, code = diff(("--journal %s/none last~1 last"):format(dir))
  t.ok(code == 2 and out:find("has 0 runs", 1, true), "an empty or missing journal: exit 2")
  out, code = diff(("--service --journal %s %s %s"):format(journal, keys[1], keys[2]))
  t.ok(code == 2 and out:find("no pair of Future AGI executions", 1, true), "--service with nothing it can compare: exit 2")
  out, code = shell.sh(("%sSF_MY_DOMAIN=http://127.0.0.1:9/sf bin/evalua report diff --journal %s %s %s")
    :format(envs, journal, keys[1], keys[2]), 60)
  t.ok(code == 2 and out:find("journal names host", 1, true), "a run at another origin is not contacted: exit 2")
  code = select(2, diff(("--timeout 5s %s/a.json %s/b.json"):format(dir, dir)))
  t.is(code, 2, "--timeout without --journal: usage error")
end)
sandbox.stop()
if not ok then t.ok(false, "journal diff tests: " .. tostring(err)) end

-- the service gone: exit 4, not a diff without it
local out, code = diff(("%s/a.json %s/b.json --service"):format(dir, dir))
t.ok(code == 4 and out:find("eval-summary-comparison", 1, true), "--service and the service unreachable: exit 4")
code = select(2, diff(("--journal %s last~1 last"):format(journal)))
t.is(code, 4, "--journal and the service unreachable: exit 4")
if os.getenv("KEEPDIR") then io.stderr:write(dir, "\n") else os.execute("rm -rf " .. dir) end
t.done()
