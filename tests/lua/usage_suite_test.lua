-- Latency, tokens and cost through `evalua test` against the sandbox: the figures Future
-- AGI reports per call reach every report (pretty, JSON, JUnit, TAP, HTML) and the
-- threshold gates; `--max-cost X` stops starting runs once the reported cost reached X
-- (skipped with the reason, exit 1, --on-budget=cancel cancels the runs in flight), and
-- warns when nothing in the suite reports a cost.
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"
local json = require "cjson"

local dir = shell.tmpdir()
local SEEDED = "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"

local base = sandbox.start()
local ok, err = pcall(function()
  local envs = ("FI_BASE_URL=%s/fi FI_API_KEY=fi-test-key FI_SECRET_KEY=fi-test-secret SF_MY_DOMAIN=%s/sf "
    .. "SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret EVALUA_JOURNAL=%s/journal ")
    :format(base, base, dir)
  local fi_test = [[
test("%s", function()
  local run = fi:start("]] .. SEEDED .. [["):wait()
  run:results()
  expect(run.status):to_be("completed")
end)
]]
  local head = [[
local futureagi = require "evalua.futureagi"
local fi = futureagi.connect { wait = { interval = "50ms", max_interval = "200ms", timeout = "60s" } }
]]
  shell.write(dir .. "/usage_test.lua", head .. fi_test:format("execution") .. [[
threshold { latency_p95 = "3s", latency_p50 = 710, cost_total = 1000, tokens_total = 0 }
threshold { latency_max = "100ms" }
]])
  shell.write(dir .. "/budget_test.lua", head .. fi_test:format("fi 1") .. [[
if os.getenv("WITH_SF") then
  test("sf long", function()
    local run = require("evalua.agentforce").connect {}:start("Order_Support_All_Pass"):wait { timeout = "60s" }
    expect(run):to_be_completed()
  end)
end
]] .. fi_test:format("fi 2") .. fi_test:format("fi 3"))
  shell.write(dir .. "/sf_test.lua", [[
test("sf", function()
  local run = require("evalua.agentforce").connect {}:start("Local_Info_Agent_Quirks"):wait { timeout = "60s" }
  run:results()
  expect(run):to_be_completed()
end)
threshold { latency_p95 = "2s" }
]])
  local function suite(file, opts, extra_env, sf_seconds)
    os.remove(dir .. "/journal")
    sandbox.control("reset", {})
    sandbox.control("config", { run_seconds = 1, services = { agentforce = { run_seconds = sf_seconds or 30 } } })
    os.remove(dir .. "/r.json")
    local out, code = shell.sh(("%s%s bin/evalua test %s -r json:%s/r.json %s/%s"):format(
      envs, extra_env or "", opts, dir, dir, file), 120)
    local decoded, data = pcall(json.decode, shell.read(dir .. "/r.json") or "")
    if not decoded then
      t.diag(("no JSON report from `evalua test %s %s` (exit %s):\n%s"):format(opts, file, tostring(code), out))
      data = {}
    end
    local tests = {}
    for _, e in ipairs(data.tests or {}) do tests[e.name] = e end
    return out, code, data, tests
  end

  -- The figures in every report, and the gates ------------------------------------------
  local out, code, data, tests = suite("usage_test.lua",
    ("-r junit:%s/r.xml -r tap:%s/r.tap -r html:%s/r.html -r pretty"):format(dir, dir, dir))
  local run = ((tests.execution or {}).runs or {})[1] or { cases = {} }
  local latencies, cents = {}, 0
  for _, c in ipairs(run.cases) do
    if c.latency_ms then latencies[#latencies + 1] = c.latency_ms end
    cents = cents + math.floor((c.cost or 0) * 100 + 0.5)
  end
  table.sort(latencies)
  t.is(#run.cases, 5, "the execution's five calls are cases")
  t.is_deeply(latencies, { 700, 710, 720, 730 }, "JSON: latency_ms kept per case (the four connected calls)")
  t.ok(cents > 0, "and each call's cost")
  local u = run.usage or {}
  t.ok(u.latency and u.latency.p50 == 710 and u.latency.p95 == 730 and u.latency.max == 730 and u.latency.count == 4,
    "JSON: the run's latency p50/p95/max (nearest rank over 4 calls)")
  t.ok(u.cost and math.floor(u.cost.total * 100 + 0.5) == cents and u.cost.count == 5, "and its total cost")
  t.ok(run.usage_by_metric and run.usage_by_metric.task_completion
    and run.usage_by_metric.task_completion.latency.count == 4, "per metric: the cases with a verdict for it")
  t.ok(data.usage and data.usage.latency.p95 == 730, "the session's usage")
  local gates = {}
  for _, e in ipairs(data.tests or {}) do if e.kind == "threshold" then gates[#gates + 1] = e end end
  t.ok(gates[1] and gates[1].outcome == "passed"
    and gates[1].name == "threshold: latency p50 <= 710ms", "a gate per figure; latency p50 <= 710ms passes")
  local by_gate = {}
  for _, g in ipairs(gates) do by_gate[g.gate.gate] = g end
  t.is((by_gate.latency_p95 or {}).outcome, "passed", "latency_p95 '3s' passes")
  t.is((by_gate.cost_total or {}).outcome, "passed", "cost_total passes")
  t.ok(by_gate.tokens_total and by_gate.tokens_total.outcome == "failed"
    and by_gate.tokens_total.actual == "no case reports token usage", "a voice agent reports no tokens: the gate fails")
  t.ok(by_gate.latency_max and by_gate.latency_max.outcome == "failed"
    and by_gate.latency_max.actual == "730ms (4 cases)", "latency_max 100ms fails at 730ms")
  t.is(code, 1, "failed gates: exit 1")
  t.like(out, "✓ execution[^\n]*\n      futureagi:[%w-]+ latency p50 710ms, p95 730ms", "pretty: the test's line, its run's figures under it")
  t.like(out, "Latency, tokens and cost", "pretty: a section")
  t.like(out, "futureagi:[%w-]+%s+latency p50 710ms, p95 730ms, max 730ms %(4 cases%); cost", "a line for the run")
  t.like(out, "metric task_completion%s+latency", "and per metric")
  t.like(out, "latency max <= 100ms not met: 730ms %(4 cases%)", "the failed gate says what was measured")
  local xml = shell.read(dir .. "/r.xml") or ""
  t.like(xml, '<property name="evalua.latency_p95_ms" value="730"/>', "JUnit: properties")
  t.like(xml, "  futureagi:[%w-]+ latency p50 710ms", "JUnit: the run's line in system-out")
  local _, valid = shell.sh("xmllint --noout --schema tests/fixtures/junit/junit.xsd " .. dir .. "/r.xml")
  t.ok(valid, "JUnit: valid against the schema")
  t.like(shell.read(dir .. "/r.tap") or "", "\n# futureagi:[%w-]+ latency p50 710ms, p95 730ms", "TAP: a diagnostic")
  local html = shell.read(dir .. "/r.html") or ""
  t.like(html, '<section id="usage">', "HTML: a section")
  t.like(html, '<td class="p95">730ms</td>', "with the run's p95")
  t.like(html, '<div class="usage"><b>latency, tokens, cost</b><pre>latency 700ms; cost', "and each case's figures")

  -- --max-cost ---------------------------------------------------------------------------
  out, code, data, tests = suite("budget_test.lua", "--jobs 1 --max-cost 0.01")
  t.is(code, 1, "--max-cost reached: exit 1")
  t.is((tests["fi 1"] or {}).outcome, "passed", "the first run ran (its cost was not known before)")
  t.is((tests["fi 2"] or {}).outcome, "skipped", "the next start is refused")
  t.like((tests["fi 2"] or {}).skip_reason or "",
    "^not run: cost budget of 0%.01 reached %(%-%-max%-cost; 0%.%d+ reported so far%)$", "with the reason")
  t.is((tests["fi 3"] or {}).outcome, "skipped", "later tests do not start")
  t.is(sandbox.posts("/execute/$"), 1, "the refused start was never sent")
  t.ok(data.budget and data.budget.max_cost == 0.01 and data.budget.cost > 0.01 and data.exit_code == 1,
    "the JSON report says which budget and what was spent")
  t.like(out, "%-%-max%-cost 0%.01: the runs reported 0%.%d+ in all", "the overshoot is said")

  local _, code2, data2 = suite("budget_test.lua", "--jobs 1 --max-cost 1000")
  t.ok(code2 == 0 and not data2.budget, "a cost budget not reached changes nothing")

  out, code, _, tests = suite("budget_test.lua", "--jobs 2 --max-cost 0.01 --on-budget=cancel", "WITH_SF=1")
  t.is(code, 1, "--on-budget=cancel: exit 1")
  t.ok((tests["sf long"] or {}).outcome == "skipped" and (tests["fi 2"] or {}).outcome == "skipped",
    "the test still running is stopped, the next one not started")
  t.is(sandbox.posts("/ai%-evaluations/runs/[^/]+/cancel$"), 1, "the run in flight is cancelled on the service")
  t.like(out, "agentforce runs report no cost", "a provider that reports no cost is named")

  out, code, _, tests = suite("sf_test.lua", "--max-cost 5", nil, 1)
  local sf_latencies = {}
  for _, c in ipairs((((tests.sf or {}).runs or {})[1] or {}).cases or {}) do
    sf_latencies[#sf_latencies + 1] = c.latency_ms
  end
  t.is_deeply(sf_latencies, { 1873 }, "Salesforce: the output_latency_milliseconds score is the case's latency")
  t.is((tests["threshold: latency p95 <= 2s"] or {}).outcome, "passed", "and a latency gate judges it")
  t.is(code, 0, "a suite that reports no cost: the budget never stops it")
  t.like(out, "%-%-max%-cost 5: no run of this session reported a cost: the budget could never stop anything",
    "and evalua warns that it could not")

  for _, bad in ipairs({ "0", "-1", "abc", "inf" }) do
    out, code = shell.sh("bin/evalua test --max-cost " .. bad .. " " .. dir .. "/sf_test.lua")
    t.ok(code == 2 and out:find("--max-cost expects a positive number", 1, true), "--max-cost " .. bad .. ": usage error")
  end
end)
sandbox.stop()
if not ok then t.ok(false, "usage suite checks: " .. tostring(err)) end
os.execute("rm -rf " .. dir)
t.done()
