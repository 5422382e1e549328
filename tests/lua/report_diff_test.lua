-- `evalua report diff BASE NEW` on hand-made JSON reports of the four providers:
-- regressions, fixes, score deltas, new, vanished and unmatched cases, pass rates per
-- metric, the exit code (1 regressed, 0 not, 2 bad input), the JSON view, and the HTML
-- view rendered in headless Chromium with the regressions first.
local t = require "tap"
local shell = require "shell"
local json = require "cjson"

local dir = shell.tmpdir()

local function m(name, passed, score) return { name = name, passed = passed, score = score } end

local function af(n, utterance, metrics) return { name = tostring(n), number = n, inputs = { utterance = utterance }, metrics = metrics } end

local function report(tests)
  return { format = "evalua-session/1", started_at = "2026-12-01T09:00:00Z", files = {}, tests = tests,
           summary = { total = #tests, passed = 0, failed = 0, error = 0, infra = 0, skipped = 0 } }
end

local function write(name, data)
  local path = dir .. "/" .. name
  shell.write(path, type(data) == "string" and data or json.encode(data))
  return path
end

local base = report({
  { name = "routing", full_name = "routing", file = "t/agent_test.lua", line = 3, outcome = "passed", runs = {
    { provider = "agentforce", id = "4KBa1", cases = {
      af(1, "hello", { m("topic_sequence_match", true, 1), m("bot_response_rating", true, 0.9) }),
      af(2, "refund my order", { m("topic_sequence_match", true, 1) }),
      af(3, "cancel", { m("topic_sequence_match", false, 0) }),
      { name = "?", metrics = { m("topic_sequence_match", true, 1) } }, -- no testNumber, no utterance
    } } } },
  { name = "calls", full_name = "calls", file = "t/fi_test.lua", line = 1, outcome = "passed", runs = {
    { provider = "futureagi", id = "exec-1", cases = {
      { name = "Refund", id = "call-a", inputs = { scenario_id = "S1" }, metrics = { m("resolved", true) } },
      { name = "Refund", id = "call-b", inputs = { scenario_id = "S1" }, metrics = { m("resolved", true) } },
    } } } },
  { name = "kapso", full_name = "kapso", file = "t/k_test.lua", line = 1, outcome = "passed", runs = {
    { provider = "kapso", id = "run-1", cases = { { name = "greets", id = "K1", metrics = { m("score", nil, 0.8) } } } } } },
  { name = "glow", full_name = "glow", file = "t/g_test.lua", line = 1, outcome = "passed", runs = {
    { provider = "glow", id = "test-1", cases = {
      { name = "Order status", id = "r1", inputs = { title = "Order status" }, metrics = { m("grade", true, 0.9) } },
      { name = "Returns", id = "r2", inputs = { title = "Returns" }, metrics = { m("grade", true, 0.8) } } } } } },
  { name = "retired", full_name = "retired", file = "t/g_test.lua", line = 9, outcome = "failed", runs = {} },
})

local new = report({
  { name = "routing", full_name = "routing", file = "t/agent_test.lua", line = 3, outcome = "failed", runs = {
    { provider = "agentforce", id = "4KBa2", cases = {
      af(1, "hello", { m("topic_sequence_match", true, 1), m("bot_response_rating", true, 0.7) }),
      { name = "2", number = 2, inputs = { utterance = "refund my order" }, error = "Agent timed out",
        metrics = { m("topic_sequence_match", false, 0) } },
      af(3, "cancel", { m("topic_sequence_match", true, 1) }),
      af(5, "new question", { m("topic_sequence_match", true, 1) }),
    } } } },
  { name = "calls", full_name = "calls", file = "t/fi_test.lua", line = 1, outcome = "passed", runs = {
    { provider = "futureagi", id = "exec-2", cases = {
      { name = "Refund", id = "call-c", inputs = { scenario_id = "S1" }, metrics = { m("resolved", true) } },
      { name = "Refund", id = "call-d", inputs = { scenario_id = "S1" }, metrics = { m("resolved", false) } },
    } } } },
  { name = "kapso", full_name = "kapso", file = "t/k_test.lua", line = 1, outcome = "passed", runs = {
    { provider = "kapso", id = "run-2", cases = { { name = "greets", id = "K1", metrics = { m("score", nil, 0.9) } } } } } },
  { name = "glow", full_name = "glow", file = "t/g_test.lua", line = 1, outcome = "passed", runs = {
    { provider = "glow", id = "test-2", cases = {
      { name = "Order status", id = "r9", inputs = { title = "Order status" }, metrics = { m("grade", true, 0.95) } } } } } },
  { name = "brand new", full_name = "brand new", file = "t/g_test.lua", line = 12, outcome = "passed", runs = {} },
})

local bin = "bin/evalua"
local bpath, npath = write("base.json", base), write("new.json", new)
local out, code = shell.sh(("%s report diff %s %s -o %s/d.json -o %s/d.html"):format(bin, bpath, npath, dir, dir))
t.is(code, 1, "a regression: exit 1")
local d = json.decode(shell.read(dir .. "/d.json"))
t.is(d.format, "evalua-diff/1", "the JSON view")

local by = {}
for _, c in ipairs(d.cases) do by[c.key] = c end
local function change(key) return by[key] and by[key].change end
t.is(change("agentforce run 1: #1 hello"), "same", "Salesforce cases matched by testNumber + utterance")
t.is(change("agentforce run 1: #2 refund my order"), "regressed", "pass -> fail is a regression")
t.is(change("agentforce run 1: #3 cancel"), "fixed", "fail -> pass is a fix")
t.is(change("agentforce run 1: #5 new question"), "new", "a case only in NEW is new")
local bot
for _, x in ipairs(by["agentforce run 1: #1 hello"].metrics) do if x.name == "bot_response_rating" then bot = x end end
t.ok(bot and math.abs(bot.delta + 0.2) < 1e-9 and bot.base_score == 0.9 and bot.new_score == 0.7, "score delta per metric")
t.is(change("futureagi run 1: scenario S1"), "same", "Future AGI: scenario, row 1")
t.is(change("futureagi run 1: scenario S1 (2)"), "regressed", "Future AGI: scenario, row 2 regressed (call ids differ)")
t.is(change("kapso run 1: test case K1"), "same", "Kapso matched by test case id")
t.is(change("glow run 1: title Order status"), "same", "Glow matched by title though run ids differ")
t.is(change("glow run 1: title Returns"), "vanished", "a case missing from NEW vanished")
t.is(#d.unmatched, 1, "one case could not be matched")
t.ok(d.unmatched[1] and d.unmatched[1].side == "base" and d.unmatched[1].reason:find("no testNumber"),
  "and the diff says which and why")
local tests = {}
for _, x in ipairs(d.tests) do tests[x.name] = x end
t.ok(tests.routing.change == "regressed" and tests.routing.base == "passed" and tests.routing.new == "failed",
  "test outcome passed -> failed is a regression")
t.is(tests.retired.change, "vanished", "a test missing from NEW vanished")
t.is(tests["brand new"].change, "new", "a test only in NEW is new")
local rates = {}
for _, x in ipairs(d.metrics) do rates[x.name] = x end
local tsm = rates.topic_sequence_match
t.ok(tsm.base.passed == 3 and tsm.base.counted == 4 and tsm.new.passed == 3 and tsm.new.counted == 4
  and tsm.change == "same", "pass rate per metric with the counts (3/4 -> 3/4)")
t.ok(rates.resolved.base.passed == 2 and rates.resolved.new.passed == 1 and rates.resolved.change == "regressed",
  "a metric whose pass rate fell regressed")
t.is(d.summary.cases_regressed, 2, "summary: 2 cases regressed")
t.is(d.summary.cases_fixed, 1, "summary: 1 fixed")
t.ok(d.regressed == true, "regressed flag")

t.like(out, "Regressions %(%d+%):", "pretty: a Regressions section")
t.ok(out:find("case agentforce run 1: #2 refund my order (t/agent_test.lua: routing): PASS -> FAIL "
  .. "(error: Agent timed out); "
  .. "topic_sequence_match PASS -> FAIL, score 1 -> 0 (-1)", 1, true),
  "pretty: what regressed, from what to what")
t.ok(out:find("metric resolved: 100.0% (2/2) -> 50.0% (1/2), -50.0 pts", 1, true), "pretty: rate change with counts")
t.ok(out:find("bot_response_rating PASS -> PASS, score 0.9 -> 0.7 (-0.2)", 1, true), "pretty: score deltas")
t.ok(out:find("Could not match (1):", 1, true), "pretty: unmatched cases listed")
t.ok(out:find("Regressions") < out:find("Fixed"), "pretty: regressions before fixes")
t.ok(not out:find("\27[", 1, true), "no colour when stdout is not a terminal")

-- nothing regressed: 0; nothing to compare against or nothing left: never a pass
out, code = shell.sh(("%s report diff %s %s"):format(bin, npath, npath))
t.ok(code == 0 and out:find("0 regressions"), "a report against itself: exit 0")
local fixed_only = json.decode(json.encode(base))
fixed_only.tests[1].runs[1].cases[3].metrics[1].passed = true
out, code = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("fixed.json", fixed_only)))
t.ok(code == 0 and out:find("Fixed (2):", 1, true) and out:find("0 regressions", 1, true), "only fixes: exit 0")
out, code = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("empty.json", report({}))))
t.ok(code == 1 and out:find("vanished"), "an empty NEW report: everything vanished, exit 1")
t.ok(out:find("case agentforce run 1: #3 cancel (t/agent_test.lua: routing): vanished, FAIL in BASE", 1, true),
  "a failing case that vanished says FAIL (false is a verdict)")
local infra = json.decode(json.encode(base))
for _, x in ipairs(infra.tests) do x.outcome, x.runs = "infra", {} end
code = select(2, shell.sh(("%s report diff %s %s"):format(bin, bpath, write("infra.json", infra))))
t.is(code, 1, "NEW where every test hit an infrastructure error: exit 1")

local lost = json.decode(json.encode(base))
lost.tests[2].runs[1].cases[2].metrics[1].passed = nil
out, code = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("lost.json", lost)))
t.ok(code == 1 and out:find("metric resolved: 100.0% (2/2) -> 100.0% (1/1), +0.0 pts, 1 fewer with a verdict", 1, true),
  "a metric fewer cases have a verdict for regressed, though its rate did not fall")

-- what a service or report says is shown escaped: no control sequence reaches the terminal
local evil = json.decode(json.encode(base))
evil.tests[1].runs[1].cases[2].error = "boom\27[2J\27]0;pwned\7"
out = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("evil.json", evil)))
t.ok(not out:find("\27", 1, true) and out:find("boom\\x1b[2J", 1, true), "control characters escaped in the pretty view")

-- Future AGI rows: matched by row_index, whatever order the calls come in
local function fi_rows(rows)
  local cases = {}
  for i, r in ipairs(rows) do
    cases[i] = { name = "S2", id = "c" .. i, inputs = { scenario_id = "S2", row_index = r[1] },
                 metrics = { m("resolved", r[2]) } }
  end
  return report({ { name = "rows", full_name = "rows", file = "t/r_test.lua", line = 1, outcome = "passed",
    runs = { { provider = "futureagi", id = "e", cases = cases } } } })
end
out, code = shell.sh(("%s report diff %s %s --format json"):format(bin, write("rows1.json", fi_rows({ { 0, true }, { 1, false } })),
  write("rows2.json", fi_rows({ { 1, false }, { 0, true } }))))
local rows = code <= 1 and json.decode(out) or { summary = {} }
t.ok(code == 0 and rows.summary.cases_compared == 2 and rows.cases[1].key == "futureagi run 1: scenario S2 row 0",
  "Future AGI calls matched by scenario and row_index, in any order")

-- no case matched: never a pass, though nothing "regressed"
local unkeyed = report({ { name = "anon", full_name = "anon", file = "t/a_test.lua", line = 1, outcome = "passed",
  runs = { { provider = "agentforce", id = "x", cases = { { name = "?", metrics = { m("topic_sequence_match", true) } } } } } } })
local unkeyed_path = write("unkeyed.json", unkeyed)
out, code = shell.sh(("%s report diff %s %s"):format(bin, unkeyed_path, unkeyed_path))
t.ok(code == 1 and out:find("No case of BASE could be matched", 1, true) and out:find("Could not match (2):", 1, true),
  "no case could be matched: exit 1, saying so and listing them")

-- latency, tokens and cost: per run and overall, shown but not a regression
local function timed(lat, tokens, cost)
  local cases = {}
  for i, l in ipairs(lat) do
    cases[i] = af(i, "q" .. i, { m("topic_sequence_match", true, 1) })
    cases[i].latency_ms, cases[i].total_tokens, cases[i].cost = l, tokens, cost
  end
  return report({ { name = "speed", full_name = "speed", file = "t/s_test.lua", line = 1, outcome = "passed",
    runs = { { provider = "agentforce", id = "r", cases = cases } } } })
end
local slow_base = write("fast.json", timed({ 100, 200, 300, 400, 1000 }, 10, 0.01))
local slow_new = write("slow.json", timed({ 200, 300, 400, 500, 3000 }, 12, 0.02))
out, code = shell.sh(("%s report diff %s %s -o %s/u.json -o %s/u.html"):format(bin, slow_base, slow_new, dir, dir))
t.is(code, 0, "slower and dearer, same verdicts: exit 0 (not a regression by itself)")
t.ok(out:find("all runs: latency p50 300 ms -> 400 ms (+100 ms), p95 1000 ms -> 3000 ms (+2000 ms), tokens 50 -> 60 "
  .. "(+10), cost 0.05 -> 0.1 (+0.05)", 1, true), "pretty: p50/p95 latency, tokens and cost, with the change")
t.ok(out:find("t/s_test.lua: speed, agentforce run 1: latency p50 300 ms", 1, true), "and per matched run")
local u = json.decode(shell.read(dir .. "/u.json")).usage
t.ok(u.overall.base.latency_p95 == 1000 and u.overall.new.latency_p95 == 3000 and u.overall.latency_p95_delta == 2000
  and math.abs(u.overall.cost_delta - 0.05) < 1e-9 and #u.runs == 1 and u.runs[1].base_run == "r",
  "JSON: usage.overall and usage.runs")
t.like(shell.read(dir .. "/u.html"), 'id="usage"', "HTML: a latency and cost section")
out = shell.sh(("%s report diff %s %s"):format(bin, bpath, npath))
t.ok(not out:find("Latency, tokens and cost", 1, true), "no such section when no case reports them")

-- bad input: exit 2 naming the file and the field
out, code = shell.sh(("%s report diff %s %s"):format(bin, write("e.json", report({})), npath))
t.ok(code == 2 and out:find("BASE has no tests"), "an empty BASE: exit 2")
out, code = shell.sh(("%s report diff %s %s/missing.json"):format(bin, bpath, dir))
t.ok(code == 2 and out:find("missing.json", 1, true), "a missing file: exit 2 naming it")
out, code = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("bad.json", "{ not json")))
t.ok(code == 2 and out:find("bad.json: not a JSON report", 1, true), "not JSON: exit 2")
out, code = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("other.json", { format = "other" })))
t.ok(code == 2 and out:find("not an evalua session report", 1, true), "another format: exit 2")
local broken = json.decode(json.encode(base))
broken.tests[2].name = nil
out, code = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("broken.json", broken)))
t.ok(code == 2 and out:find("broken.json: tests[2].name", 1, true), "a missing field: exit 2 naming it")
broken = json.decode(json.encode(base))
broken.tests[1].runs[1].cases = "oops"
out, code = shell.sh(("%s report diff %s %s"):format(bin, bpath, write("broken.json", broken)))
t.ok(code == 2 and out:find("tests[1].runs[1].cases: expected an array", 1, true), "a field of the wrong shape: exit 2")
out, code = shell.sh(("%s report diff %s"):format(bin, bpath))
t.ok(code == 2 and out:find("expected two JSON reports"), "one report only: exit 2")
code = select(2, shell.sh(("%s report diff %s %s --format xml"):format(bin, bpath, npath)))
t.is(code, 2, "unknown --format: exit 2")
out, code = shell.sh(("%s report diff %s %s --format json"):format(bin, bpath, npath))
t.ok(code == 1 and json.decode(out).summary.cases_regressed == 2, "--format json to stdout")

-- the HTML view in Chromium: regressions first, counts as in the JSON view
local page = shell.read(dir .. "/d.html")
t.like(page, "^<!DOCTYPE html>", "an HTML document")
t.ok(not page:find("<script", 1, true) and not page:find("<link", 1, true), "self-contained, no script")
if not os.execute("command -v chromium >/dev/null 2>&1") then
  t.diag("chromium not installed: rendering checks skipped")
else
  local profile = dir .. "/chromium"
  local function dump(name)
    return shell.sh(("chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      .. "--disable-component-update --disable-sync --no-first-run --user-data-dir=%s --dump-dom 'file://%s/%s' "
      .. "2>/dev/null"):format(profile, dir, name), 90)
  end
  local html = dump("d.html")
  t.like(html, "<h1>evalua report diff</h1>", "Chromium renders the page")
  local function text_of(id) return html:match('id="' .. id .. '">([^<]*)<') end
  t.is(text_of("regressions"), tostring(math.tointeger(d.summary.regressions)), "regression count matches the JSON view")
  t.is(text_of("unmatched"), "1", "unmatched count")
  t.is(text_of("verdict"), "Regressed", "verdict")
  local changes = {}
  for c in html:match('id="changes".-</table>'):gmatch('data%-change="(%w+)"') do changes[#changes + 1] = c end
  local last_bad, first_other = 0, #changes + 1
  for i, c in ipairs(changes) do
    if c == "regressed" or c == "vanished" then last_bad = i elseif first_other > #changes then first_other = i end
  end
  t.ok(#changes > 0 and last_bad < first_other, "side-by-side rows: every regression before anything else")
  t.like(html, 'data%-metric="resolved" data%-change="regressed"', "metric row marked regressed")
  t.like(html, '<span class="metric fail">topic_sequence_match FAIL 0</span>', "NEW side shows the failing metric")
  t.like(html, 'error: Agent timed out', "and the case's error")
  t.like(dump("u.html"), '<tr data%-usage="all"><td>all runs</td><td>latency p50 300 ms %-&gt; 400 ms',
    "Chromium renders the latency and cost section")
end

if os.getenv("KEEPDIFF") then print(dir) else os.execute("rm -rf " .. dir) end
t.done()
