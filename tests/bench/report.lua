-- Turn the raw measurements of tests/bench/run ("key value" lines) into RESULTS.md:
-- medians with min-max, ratios, and each target's verdict. The hand-written analysis
-- (tests/bench/analysis.md) is appended as it is.
--   lua5.4 tests/bench/report.lua MEASUREMENTS > RESULTS.md
--   lua5.4 tests/bench/report.lua --hyperfine EXPORT.json    (-> "startup.NAME.seconds MEDIAN" lines)
local cjson = require "cjson"

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

if arg[1] == "--hyperfine" then
  for _, r in ipairs(cjson.decode(read_file(arg[2])).results) do
    print(("startup.%s.seconds %.6f"):format(r.command, r.median))
  end
  return
end

local samples, info = {}, {}
assert(arg[1], "usage: report.lua MEASUREMENTS")
for line in io.lines(arg[1]) do
  local key, value = line:match("^(%S+) (.*)$")
  if key and key:match("^info%.") then
    info[key:sub(6)] = value
  elseif key and tonumber(value) then
    samples[key] = samples[key] or {}
    table.insert(samples[key], tonumber(value))
  end
end

---------------------------------------------------------------------------------------
-- Statistics

local function median(list)
  if not list or #list == 0 then return nil end
  local s = table.move(list, 1, #list, 1, {})
  table.sort(s)
  local m = (#s + 1) // 2
  return #s % 2 == 1 and s[m] or (s[m] + s[m + 1]) / 2
end

local function range(list)
  if not list or #list == 0 then return nil, nil end
  return math.min(table.unpack(list)), math.max(table.unpack(list))
end

-- Per-round ratios a[i] / b[i] (rounds alternate the tools, so neighbours share conditions).
local function paired(a, b)
  if not a or not b or #a ~= #b then return nil end
  local r = {}
  for i = 1, #a do r[i] = a[i] / b[i] end
  return r
end

local function num(x, digits)
  if x == nil then return "n/a" end
  digits = digits or (math.abs(x) >= 100 and 0 or math.abs(x) >= 10 and 1 or 2)
  local s = ("%." .. digits .. "f"):format(x)
  if digits == 0 then
    local n
    repeat s, n = s:gsub("^(-?%d+)(%d%d%d)", "%1,%2") until n == 0
  end
  return s
end

-- "median (min–max)" of a list, each value scaled by `scale`.
local function stat(list, scale, digits)
  if not list then return "n/a" end
  scale = scale or 1
  local lo, hi = range(list)
  if #list == 1 then return num(list[1] * scale, digits) end
  return ("%s (%s–%s)"):format(num(median(list) * scale, digits), num(lo * scale, digits), num(hi * scale, digits))
end

local function one(key) return samples[key] and samples[key][1] end

---------------------------------------------------------------------------------------
-- Output

local out = {}
local function say(fmt, ...) out[#out + 1] = select("#", ...) > 0 and fmt:format(...) or fmt end
local function row(...) say("| " .. table.concat({ ... }, " | ") .. " |") end
local function heading(title)
  say("")
  say("## " .. title)
  say("")
end

local verdicts = {}
-- verdict(what, measured, target_text, pass): a line of the summary table.
local function verdict(what, measured, target, pass)
  local v = pass == nil and "n/a" or pass and "PASS" or "**MISS**"
  verdicts[#verdicts + 1] = { what, measured, target, v }
end

-- 1. throughput
local tp = {}
local tp_clients = { "evalua", "c", "c_options", "node", "curl_loop" }
for _, c in ipairs(tp_clients) do tp[c] = samples["throughput." .. c .. ".rps"] end
local tp_ratio = paired(tp.evalua, tp.c)
local tp_instr = { evalua = one("instr.throughput.evalua.per_request"), c = one("instr.throughput.c.per_request") }
local tp_instr_ratio = tp_instr.evalua and tp_instr.c and tp_instr.c / tp_instr.evalua
-- Requests per second alone would pass whenever nginx, not the client, is the bottleneck
-- (both clients then run at nginx's rate): the instructions a request costs must agree.
verdict("HTTP throughput, evalua / plain C libcurl (requests/s; passes only with the instructions below)",
  stat(tp_ratio, 1, 3) .. "×", "≥ 0.85×",
  tp_ratio and median(tp_ratio) >= 0.85 and tp_instr_ratio ~= nil and tp_instr_ratio >= 0.85)
verdict("HTTP throughput by instructions (callgrind), plain C / evalua per request",
  tp_instr_ratio and ("%s× (%s vs %s)"):format(num(tp_instr_ratio, 3), num(tp_instr.c, 0), num(tp_instr.evalua, 0)) or "n/a",
  "≥ 0.85×", tp_instr_ratio and tp_instr_ratio >= 0.85)

-- 2. start-up
local st = {}
for _, c in ipairs { "evalua", "evalua_installed", "c_baseline", "lua54", "node", "python3" } do
  st[c] = samples["startup." .. c .. ".seconds"]
end
local function st_ratio(name)
  return median(paired(st[name], st.c_baseline))
end
-- The target is the installed binary's: bin/evalua compiles lua/ from disk by design.
if st_ratio("evalua") then
  verdicts[#verdicts + 1] = { "Start-up, `bin/evalua -e ''` / C libcurl+Lua (source tree)",
                              num(st_ratio("evalua"), 3) .. "×", "(the target is the installed copy's)", "info" }
end
verdict("Start-up, installed copy / C libcurl+Lua", num(st_ratio("evalua_installed"), 3) .. "×", "≤ 1.2×",
  st_ratio("evalua_installed") and st_ratio("evalua_installed") <= 1.2)

-- 3. documents
local doc_labels = {}
for key in pairs(samples) do
  local label = key:match("^docs%.([^.]+)%.generated%.bytes$")
  if label then doc_labels[#doc_labels + 1] = label end
end
table.sort(doc_labels, function(a, b) return one("docs." .. a .. ".generated.bytes") < one("docs." .. b .. ".generated.bytes") end)
for _, label in ipairs(doc_labels) do
  local p = "docs." .. label .. "."
  local size = one(p .. "generated.bytes")
  local ratio = paired(samples[p .. "evalua.mbps"], samples[p .. "cjson.mbps"])
  verdict(("Results %s: fetch+decode MB/s / lua5.4+cjson"):format(label), stat(ratio, 1, 3) .. "×", "≥ 1.0×",
    ratio and median(ratio) >= 1.0)
  local speed = samples[p .. "decode.speed_ratio"]
  verdict(("Results %s: json.decode MB/s / cjson.decode, same process"):format(label), stat(speed, 1, 3) .. "×",
    "≥ 1.0×", speed and median(speed) >= 1.0)
  local function x(m, field)
    local list = samples[p .. m .. "." .. field]
    return list and median(list) * 1024 / size
  end
  for _, m in ipairs { "evalua", "model" } do
    local peak = x(m, "peak_rss_kb")
    local growth = peak and peak - x(m, "start_rss_kb")
    local figure = ("Results %s: peak RSS / document, %s"):format(label, m == "evalua" and "fetch+decode" or "+ result model")
    local value = ("%s× (growth %s×; lua5.4+cjson peaks at %s×)"):format(num(peak, 2), num(growth, 2),
      num(x("cjson", "peak_rss_kb"), 2))
    -- The target is issue 13's, for the 50 MB document: below ~20 MB the libraries and the
    -- Lua state resident at start (~11 MiB) are most of the peak on their own.
    -- The target is the fetch and decode's; the result model's share is shown beside it.
    if size >= 20e6 and m == "evalua" then verdict(figure, value, "≤ 2.6×", peak and peak <= 2.6)
    elseif size >= 20e6 then
      verdicts[#verdicts + 1] = { figure, value, "(the target is fetch+decode's)", "info" }
    else
      verdicts[#verdicts + 1] = { figure, value .. "; start-up RSS alone " .. num(x(m, "start_rss_kb"), 2) .. "×",
                                  "(none below 20 MB)", "info" }
    end
  end
end

-- 3b. redaction
local redact_s = samples["redact.seconds"]
if redact_s then
  verdict(("Redaction: %s MB with %s secrets"):format(num(one("redact.bytes") / 1e6, 0), num(one("redact.secrets"), 0)),
    stat(redact_s, 1, 3) .. " s", "< 1 s", median(redact_s) < 1)
end

-- 4. scale
local runs = one("scale.runs")
if runs then
  verdict(("Scale: runs completed with correct results (of %d)"):format(runs), num(one("scale.completed_correctly"), 0),
    "all", one("scale.completed_correctly") == runs)
  local rss, c_rss = one("scale.peak_rss_kb"), one("scale_c.peak_rss_kb")
  verdict("Scale: peak RSS", ("%s MiB (plain-C poller %s MiB: %s×)"):format(num(rss / 1024, 1),
    num(c_rss and c_rss / 1024, 1), num(c_rss and rss / c_rss, 1)), "≤ 80 MB", rss * 1024 <= 80e6)
  local per_run = one("scale.rss_per_waiting_run_bytes")
  verdict("Scale: memory per waiting run (RSS growth ÷ runs)", ("%s bytes (plain-C poller %s)"):format(num(per_run, 0),
    num(one("scale_c.rss_per_waiting_run_bytes"), 0)), "≤ 6 KiB", per_run and per_run <= 6144)
  local cpu, c_cpu = one("scale.cpu_us_per_request"), one("scale_c.cpu_us_per_request")
  local cpu_ratio = c_cpu and cpu / c_cpu
  verdict("Scale: CPU per request, evalua / plain-C poller", ("%s× (%s µs vs %s µs)"):format(num(cpu_ratio, 2),
    num(cpu, 1), num(c_cpu, 1)), "≤ 1.5×", cpu_ratio and cpu_ratio <= 1.5)
  local ei, ci = one("instr.scale.evalua.per_request"), one("instr.scale.c.per_request")
  if ei and ci then
    verdict("Scale: instructions per request (callgrind, short run), evalua / plain-C poller",
      ("%s× (%s vs %s)"):format(num(ei / ci, 2), num(ei, 0), num(ci, 0)), "≤ 1.5×", ei / ci <= 1.5)
  end
  verdict("Scale: polls after a terminal status", num(one("scale.polls_after_terminal"), 0), "0",
    one("scale.polls_after_terminal") == 0)
  verdict("Scale: most connections open at once", num(one("scale.max_connections"), 0),
    "≤ " .. num(one("scale.connection_cap"), 0) .. " (per-host cap)",
    one("scale.max_connections") <= one("scale.connection_cap"))
end

-- 6. a whole test invocation
local suite_runs = one("suite.runs")
if suite_runs then
  local per_run = one("suite.peak_rss_kb") * 1024 / suite_runs
  verdict(("`evalua test`, %s runs, five reporters: peak RSS per run"):format(num(suite_runs, 0)),
    ("%s KiB (%s of %s passed)"):format(num(per_run / 1024, 1), num(one("suite.passed"), 0), num(suite_runs, 0)),
    "≤ 20 KiB", per_run <= 20 * 1024 and one("suite.passed") == suite_runs)
end

say("# evalua benchmarks")
say("")
say("Generated by `%s` on %s. Every figure is the median of the rounds with min–max in",
  info.mode == "smoke" and "tests/bench/run --smoke" or "make bench", info.date or "?")
say("brackets; ratios are taken per round (the tools take turns within a round) and their")
say("median is what the target is judged on. Absolute numbers drift on a shared 2-core machine;")
say("the ratios are the figures that matter. Raw data: `tests/bench/work/measurements-*.txt`;")
say("`make bench` writes this file to `tests/bench/work/RESULTS.md` (the committed copy is made on purpose).")
say("")
say("## Machine")
say("")
row("", "")
row("---", "---")
row("CPUs", info.nproc or "?")
row("CPU", info.cpu or "?")
row("kernel", info.kernel or "?")
row("load average at start / end (other work on the machine)", ("%s / %s"):format(info.load_start or "?", info.load_end or "?"))
for _, k in ipairs { "evalua", "lua", "curl", "nginx", "node", "python", "hyperfine", "cc" } do
  row(k, (info[k] or "?"):gsub("|", "/"), nil)
end
say("")
say("## Targets")
say("")
row("figure", "measured", "target", "verdict")
row("---", "---", "---", "---")
for _, v in ipairs(verdicts) do row(table.unpack(v)) end

heading("1. HTTP throughput")
say("GETs of a 92-byte JSON status body from nginx (1 worker, keep-alive) on 127.0.0.1, each")
say("body decoded, %s in flight over as many connections; %s requests per client per round",
  info.concurrency or "?", info.tp_requests or "?")
say("(the curl loop: %s, one process each); rounds: %s. CPUs: %s.", info.curl_requests or "?", info.rounds or "?",
  info.pinning or "?")
say("Instructions per request: callgrind over a run of %s requests minus one of %s (start-up cancels out).",
  info.cg_large or "?", info.cg_small or "?")
say("")
row("client", "requests/s", "÷ plain C", "instructions/request", "÷ plain C")
row("---", "---:", "---:", "---:", "---:")
local names = {
  evalua = "evalua: 64 tasks, `http.get(url):json()` (`tests/bench/throughput.lua`)",
  c = "plain C: libcurl multi, 64 easy handles, lua-cjson decode (`curl_multi.c`)",
  c_options = "the same C program with the curl options evalua sets on every request (`curl_multi.c … evalua-options`)",
  node = "Node " .. (info.node or "") .. ": `fetch` + `res.json()`, 64 in flight (`fetch.mjs`)",
  curl_loop = "`curl` command in a shell loop, body not decoded (`curl_loop.sh`)",
}
for _, c in ipairs(tp_clients) do
  row(names[c], stat(tp[c]), stat(paired(tp[c], tp.c), 1, 3), tp_instr[c] and num(tp_instr[c], 0) or "",
    tp_instr[c] and num(tp_instr[c] / tp_instr.c, 3) or "")
end

heading("2. Start-up")
say("hyperfine, no shell, warm cache, %s runs of each command per round; wall time of the whole", info.hf_runs or "?")
say("process. Figures are the median (min–max) of the rounds' medians; ratios per round.")
say("")
row("command", "ms", "÷ C baseline")
row("---", "---:", "---:")
local st_names = {
  evalua = "`bin/evalua -e ''` (source tree: modules from lua/ on disk)",
  evalua_installed = "`evalua -e ''` installed copy (modules from the binary)",
  c_baseline = "C: curl_global_init + multi handle + Lua state (`startup_baseline.c`)",
  lua54 = "`lua5.4 -e ''`", node = "`node -e 0`", python3 = "`python3 -c pass`",
}
for _, c in ipairs { "evalua", "evalua_installed", "c_baseline", "lua54", "node", "python3" } do
  row(st_names[c], stat(st[c], 1000, 2), stat(paired(st[c], st.c_baseline), 1, 3))
end

heading("3. Result documents")
say("A seeded Salesforce-shaped results document (`gen_results.lua`: testCases with")
say("generatedData and three testResults each) served by nginx. evalua times")
say("`http.get(url, {decode = \"json\"}):json()` (the body decoded as it arrives, never held whole)")
say("(wall clock, transfer included) and then `model.from.agentforce(doc)`; the baseline is")
say("`lua5.4` reading the file and `cjson.decode` (CPU time; page cache). Peak RSS is the")
say("process's VmHWM (everything it ever held, the Lua state and libraries included).")
say("Growth is peak RSS minus the RSS when the script started (libraries, Lua state).")
say("MB/s counts 10^6 bytes; RSS is in MiB.")
for _, label in ipairs(doc_labels) do
  local p = "docs." .. label .. "."
  local size = one(p .. "generated.bytes")
  say("")
  say("### %s: %s bytes, %s test cases", label, num(size, 0), num(one(p .. "generated.cases"), 0))
  say("")
  row("step", "MB/s", "÷ cjson", "seconds", "peak RSS MiB", "÷ document", "growth ÷ document")
  row("---", "---:", "---:", "---:", "---:", "---:", "---:")
  local function rss_x(list, start)
    if not list then return "n/a" end
    local l = {}
    for i, v in ipairs(list) do l[i] = (v - (start and start[i] or 0)) * 1024 / size end
    return stat(l, 1, 2)
  end
  for _, m in ipairs { "evalua", "model", "cjson" } do
    local title = ({ evalua = "evalua fetch + decode", model = "evalua fetch + decode, then result model",
                     cjson = "lua5.4 read + cjson.decode" })[m]
    row(title, stat(samples[p .. m .. ".mbps"]), stat(paired(samples[p .. m .. ".mbps"], samples[p .. "cjson.mbps"]), 1, 3),
      stat(samples[p .. m .. ".seconds"], 1, 3), stat(samples[p .. m .. ".peak_rss_kb"], 1 / 1024, 1),
      rss_x(samples[p .. m .. ".peak_rss_kb"]), rss_x(samples[p .. m .. ".peak_rss_kb"], samples[p .. m .. ".start_rss_kb"]))
  end
  if samples[p .. "decode.json_mbps"] then
    say("")
    say("Decoding alone, the same text in one evalua process, best of three each, per round: `json.decode`")
    say("%s MB/s, `cjson.decode` %s MB/s; json ÷ cjson %s×.", stat(samples[p .. "decode.json_mbps"]),
      stat(samples[p .. "decode.cjson_mbps"]), stat(samples[p .. "decode.speed_ratio"], 1, 3))
  end
  if samples[p .. "model.model_seconds"] then
    say("")
    say("Mapping into the result model alone: %s s (%s MB/s of document).",
      stat(samples[p .. "model.model_seconds"], 1, 3),
      num(size / 1e6 / median(samples[p .. "model.model_seconds"]), 1))
  end
end

heading("4. Scale, and 5. memory per waiting run")
if runs then
  say("%s Agentforce runs (alternately `Order_Support_All_Pass`, 3 cases, and", num(runs, 0))
  say("`Billing_Agent_Regressions`, 4 cases of which 2 fail) started at once from one process")
  say("through the provider client (`agentforce.connect`, `sf:start`, `run:wait` with poll.wait's")
  say("default backoff: 1 s, ×1.5, at most 30 s, ±10% jitter), against the sandbox with runs of")
  say("%s s simulated duration; the journal is written (to `tests/bench/work/scale-%s/`). One round:",
    info.scale_seconds or "?", info.mode or "full")
  say("the run takes minutes. `tests/bench/scale.lua`.")
  say("")
  say("The floor, `c_poller.c`: the same runs, schedule and requests from plain C (libcurl multi, the")
  say("same cap of 32 connections and 64 transfers attached, lua-cjson decoding the bodies), against")
  say("the same sandbox, measured right after evalua in the same `make bench`.")
  say("")
  row("figure", "evalua", "plain-C poller", "÷ plain C")
  row("---", "---:", "---:", "---:")
  local function f(k) return one("scale." .. k) end
  local function c(k) return one("scale_c." .. k) end
  local function both(title, k, digits, scale)
    scale = scale or 1
    local e, b = f(k), c(k)
    row(title, num(e and e * scale, digits), num(b and b * scale, digits), num(e and b and b ~= 0 and e / b or nil, 2))
  end
  row("runs completed with correct results", ("%s of %s"):format(num(f("completed_correctly"), 0), num(runs, 0)),
    ("%s of %s"):format(num(c("completed_correctly"), 0), num(c("runs"), 0)), "")
  both("runs whose start failed", "start_errors", 0)
  both("wall time, all runs (s)", "seconds", 1)
  both("time until every run was started (s)", "start_seconds", 1)
  both("requests to the sandbox", "requests", 0)
  row("… starts / status polls / results polls / token", ("%s / %s / %s / %s"):format(num(f("requests_start"), 0),
    num(f("requests_status"), 0), num(f("requests_results"), 0), num(f("requests_token"), 0)), "", "")
  both("requests per run", "requests_per_run", 2)
  row("minimum per run the backoff schedule needs (start + status polls until terminal + 1 results)",
    num(f("min_requests_per_run"), 2), "", "")
  both("CPU, total (s)", "cpu_seconds", 2)
  both("**CPU per request (µs)**", "cpu_us_per_request", 1)
  row("… while every run was being started / afterwards, while polling (µs)",
    ("%s / %s"):format(num(f("start_cpu_us_per_request"), 1), num(f("polling_cpu_us_per_request"), 1)), "", "")
  row("instructions per request (callgrind, 50 and 150 runs of 1–2 s)", num(one("instr.scale.evalua.per_request"), 0),
    num(one("instr.scale.c.per_request"), 0), num(one("instr.scale.evalua.per_request") and one("instr.scale.c.per_request")
      and one("instr.scale.evalua.per_request") / one("instr.scale.c.per_request"), 2))
  both("**peak RSS (MiB)**", "peak_rss_kb", 1, 1 / 1024)
  both("polls after a terminal status", "polls_after_terminal", 0)
  row("most connections open at once (sandbox's count) / per-host cap",
    ("%s / %s"):format(num(f("max_connections"), 0), num(f("connection_cap"), 0)),
    ("%s / %s"):format(num(c("max_connections"), 0), num(c("connection_cap"), 0)), "")
  both("**memory per waiting run**: RSS growth ÷ runs, once all were started (bytes)", "rss_per_waiting_run_bytes", 0)
  row("… of which live Lua heap after a full GC (bytes)", num(f("lua_heap_per_waiting_run_bytes"), 0), "", "")
else
  say("(not measured)")
end

heading("6. A whole `evalua test` invocation")
if suite_runs then
  say("`tests/bench/suite_runs.lua` through `tests/bench/suite.sh`: %s tests, each starting one Agentforce", num(suite_runs, 0))
  say("run against the sandbox (%s s) and asserting it completed, all at once (`--jobs %s`), with", info.scale_seconds or "?",
    num(suite_runs, 0))
  say("the pretty, TAP, JUnit, JSON and HTML reporters writing files. Peak RSS is the kernel's")
  say("`ru_maxrss` of the whole process, reporting included.")
  say("")
  row("figure", "value")
  row("---", "---:")
  row("tests passed", ("%s of %s"):format(num(one("suite.passed"), 0), num(suite_runs, 0)))
  row("wall time (s)", num(one("suite.seconds"), 1))
  row("**peak RSS (MiB)**", num(one("suite.peak_rss_kb") / 1024, 1))
  row("**peak RSS per run (KiB)**", num(one("suite.peak_rss_kb") / suite_runs, 1))
  for _, r in ipairs { { "txt", "pretty" }, { "tap", "TAP" }, { "xml", "JUnit" }, { "json", "JSON" }, { "html", "HTML" } } do
    row(r[2] .. " report (MB)", num(one("suite.bytes_" .. r[1]) and one("suite.bytes_" .. r[1]) / 1e6, 1))
  end
else
  say("(not measured)")
end

local analysis = io.open("tests/bench/analysis.md")
if analysis then
  say("")
  say((analysis:read("a"):gsub("%s+$", "")))
  analysis:close()
end
print(table.concat(out, "\n"))
