-- Live progress of runs in flight: the heartbeat's arithmetic on an injected clock (at
-- most one line per 30 s, none for a short wait), the terminal line (in place, cut to
-- the width, cleared when the last run ends, dim unless colour is off), cases done, and
-- `evalua run` with --progress, --quiet, --color and NO_COLOR.
local t = require "tap"
local shell = require "shell"
local progress = require "evalua.progress"

local now, written = 0, {}
local function tracker(tty, width)
  now, written = 0, {}
  return progress.new { clock = function() return now end, write = function(s) written[#written + 1] = s end,
                        tty = tty, width = width }
end

-- heartbeat (not a terminal)
local p = tracker(false)
local run = { provider = "agentforce", id = "4KB1", status = "running" }
p:started(run)
t.is(#written, 0, "no heartbeat when a run starts")
now = 29.9
p:tick()
t.is(#written, 0, "none before 30 s")
now = 30
p:status(run)
t.is(#written, 1, "one at 30 s")
t.is(written[1], "evalua: 1 run in flight: agentforce:4KB1 running 30s\n", "the heartbeat line")
for _, s in ipairs({ 31, 40, 59.9 }) do
  now = s
  p:tick()
  p:status(run)
end
t.is(#written, 1, "at most one per 30 s however often it is asked")
now = 75
p:tick()
t.is(#written, 2, "the next after 30 s more (polls may come late)")
now = 104.9
p:tick()
t.is(#written, 2, "counted from the last heartbeat, not from the start")
now = 105
local second = { provider = "kapso", id = "r9", status = "queued" }
p:started(second)
t.is(#written, 3, "a run starting when a beat is due prints it")
t.like(written[3], "2 runs in flight: agentforce:4KB1 running 1m45s, kapso:r9 queued 0s", "both runs, oldest first")
p:finished(run)
p:finished(second)
now = 500
p:tick()
t.is(#written, 3, "nothing once no run is in flight")
t.is(#p:in_flight(), 0, "and none is tracked")
p:started({ provider = "glow", id = "g", status = "running" })
now = 520
p:tick()
t.is(#written, 3, "a new wait starts a new 30 s period")

-- cases done, when the service says
run = { provider = "futureagi", id = "e1", status = "running", cases_done = 3, cases_total = 10 }
p = tracker(false)
p:started(run)
t.like(p:line(65), "futureagi:e1 running 1m05s %(3/10 cases%)", "cases done from the service's counts")
run = { provider = "glow", id = "t1", status = "running",
        cases = { { status = "completed" }, { status = "running" }, { status = "failed" } } }
p:started(run)
t.like(p:line(0), "glow:t1 running 0s %(2/3 cases%)", "or from partial results")
t.is(progress.elapsed(3725), "1h02m", "hours")
local model = require "evalua.model"
local fi = model.from.futureagi({ execution_id = "e2", status = "running", completed_calls = 2, total_calls = 5 }, {})
p = tracker(false)
p:started(fi)
t.like(p:line(0), "futureagi:e2 running 0s %(2/5 cases%)", "Future AGI's completed_calls/total_calls reach the line")
local gl = model.from.glow({ status_summary = { total = 4, completed = 1, in_progress = 1 }, runs = {} }, { test_id = "t9" })
p:started(gl)
t.like(p:line(0), "glow:t9 running 0s %(1/4 cases%)", "Glow's status_summary too")

-- a start the service holds back (Salesforce's org limit)
p = tracker(false)
p:queued({ provider = "agentforce", target = "Order_Support", token = "T1", reason = "org limit of 10 runs in progress" })
t.is(written[1], "evalua: agentforce start of Order_Support queued: org limit of 10 runs in progress\n",
  "a queued start is said at once on a non-terminal")
p:queued({ provider = "agentforce", target = "Order_Support", token = "T1", reason = "org limit of 10 runs in progress" })
t.is(#written, 1, "once per start")
t.like(p:line(20), "agentforce:Order_Support queued: org limit of 10 runs in progress 20s", "and shown in the line")
p:started({ provider = "agentforce", id = "4KB9", status = "queued", start_token = "T1" })
t.ok(#p:in_flight() == 1 and p:in_flight()[1].run.id == "4KB9", "the run replaces its queued start")
p:queued({ provider = "agentforce", target = "Other", token = "T2", reason = "org limit of 10 runs in progress" })
p:start_resolved("T2")
t.is(#p:in_flight(), 1, "a start that failed leaves the line")

-- the terminal line
p = tracker(true, 60)
p:started({ provider = "agentforce", id = "A", status = "running" })
t.is(written[1], "\r\27[K1 run in flight: agentforce:A running 0s", "drawn in place")
now = 3
p:tick()
t.is(written[2], "\r\27[K1 run in flight: agentforce:A running 3s", "redrawn with the elapsed time")
p:started({ provider = "kapso", id = "a-very-long-identifier-of-a-run-of-kapso", status = "queued" })
t.ok(utf8.len(written[3]:sub(5)) <= 59 and written[3]:find("…$"), "cut to the terminal's width")
p:finished({ provider = "kapso", id = "a-very-long-identifier-of-a-run-of-kapso" })
p:finished({ provider = "agentforce", id = "A" })
t.is(written[#written], "\r\27[K", "cleared when the last run ends")
p = progress.new { clock = function() return 0 end, write = function(s) written[#written + 1] = s end,
                   tty = true, color = true }
p:started({ provider = "x", id = "1", status = "running" })
t.like(written[#written], "^\r\27%[K\27%[2m1 run", "dim when colour is on")

-- thousands of runs: a line names the oldest SHOWN and counts the rest; ends in any order
-- keep the count and the order right, and the list of entries stays bounded
do
  p = tracker(false)
  local runs = {}
  for i = 1, 3000 do
    runs[i] = { provider = "kapso", id = "r" .. i, status = "running" }
    p:started(runs[i])
  end
  local rng, left = 12345, {}
  for i = 1, 3000 do left[i] = i end
  for i = 3000, 2, -1 do -- a seeded shuffle (an LCG: the same order on every machine)
    rng = (rng * 1103515245 + 12345) % 2147483648
    local j = rng % i + 1
    left[i], left[j] = left[j], left[i]
  end
  for i = 1, 2990 do p:finished(runs[left[i]]) end
  local alive = {}
  for i = 2991, 3000 do alive[#alive + 1] = left[i] end
  table.sort(alive)
  local ids = {}
  for _, e in ipairs(p:in_flight()) do ids[#ids + 1] = tonumber(e.run.id:sub(2)) end
  t.is(table.concat(ids, " "), table.concat(alive, " "), "the 10 left, oldest first, after 2,990 ends in a seeded order")
  t.ok(#p.order - p.head + 1 <= 2 * 10 + progress.SHOWN, "finished entries do not pile up")
  p:started({ provider = "kapso", id = "late", status = "queued" })
  local line = p:line(0)
  t.like(line, "^11 runs in flight: kapso:r%d+ running 0s, ", "the count")
  t.like(line, ", and 1 more$", "the oldest 10 named, the rest counted")
  t.ok(not line:find("late", 1, true), "the newest is the one counted")
  p = tracker(true, 200)
  p:started(runs[1])
  local drawn = #written
  for _ = 1, 50 do p:status(runs[1]) end
  t.is(#written, drawn, "polls at one moment redraw the terminal line no more than once per REDRAW")
  now = progress.REDRAW
  p:status(runs[1])
  t.is(#written, drawn + 1, "and again once REDRAW has passed")
end

-- evalua run
local tmp = os.tmpname()
shell.write(tmp, [[
local hooks = require "evalua.hooks"
local run = { provider = "fake", id = "R1", status = "running", cases = {} }
hooks.emit("run_started", run)
task.sleep(1.2)
print("from the script")
run.status = "completed"
hooks.emit("run_finished", run)
]])
local journal = "EVALUA_JOURNAL=" .. tmp .. ".journal "
local out, code = shell.sh(journal .. "bin/evalua --progress " .. tmp .. " 2>&1", 60)
t.ok(code == 0 and out:find("\r\27[K1 run in flight: fake:R1 running 0s", 1, true), "--progress: the line without a terminal")
t.ok(out:find("\r\27[Kfrom the script\n", 1, true), "the line is cleared before the script prints")
t.ok(out:sub(-4) == "\r\27[K", "and cleared at the end")
out = shell.sh(journal .. "bin/evalua " .. tmp .. " 2>&1", 60)
t.is(out, "from the script\n", "not a terminal: nothing for a wait shorter than a heartbeat")
out = shell.sh(journal .. "bin/evalua --progress --quiet " .. tmp .. " 2>&1", 60)
t.is(out, "from the script\n", "--quiet silences it")
out = shell.sh(journal .. "bin/evalua --progress --color=always " .. tmp .. " 2>&1", 60)
t.ok(out:find("\27[2m", 1, true), "--color=always")
out = shell.sh(journal .. "NO_COLOR=1 bin/evalua --progress --color=auto " .. tmp .. " 2>&1", 60)
t.ok(not out:find("\27[2m", 1, true), "NO_COLOR")
out = shell.sh(journal .. "bin/evalua test --color=always tests/runner/passing --journal " .. tmp .. ".journal")
t.ok(out:find("\27[1mevalua test:", 1, true), "--color=always colours evalua test's pretty reporter off a terminal")
out = shell.sh(journal .. "bin/evalua test --color=never tests/runner/passing --journal " .. tmp .. ".journal")
t.ok(not out:find("\27[", 1, true), "--color=never")
out, code = shell.sh("bin/evalua --color=sometimes -e 'print(1)'")
t.ok(code == 2 and out:find("--color expects always, never or auto", 1, true), "a bad --color: exit 2")
shell.write(tmp, [[
require("evalua.hooks").emit("run_started", { provider = "fake", id = "LEFT", status = "running" })
print("left running")
]])
out, code = shell.sh(journal .. "bin/evalua --progress " .. tmp .. " 2>&1", 30)
t.ok(code == 0 and out:find("left running"), "a run left in flight does not keep the process alive")

-- against the sandbox: an org limit of 1 run in progress queues the second start
local sandbox = require "sandbox"
local base = sandbox.start()
local ok, err = pcall(function()
  sandbox.control("config", { max_in_progress = 1, run_seconds = 1 })
  shell.write(tmp, [[
local sf = require("evalua.agentforce").connect { queue_interval = "200ms" }
local first = sf:start("Order_Support_All_Pass")
local second = sf:start("Order_Support_All_Pass")
first:wait()
second:wait()
print("both done")
]])
  out, code = shell.sh(("%sSF_MY_DOMAIN=%s/sf SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret "
    .. "bin/evalua %s 2>&1"):format(journal, base, tmp), 60)
  t.ok(code == 0 and out:find("evalua: agentforce start of Order_Support_All_Pass queued: org limit of 10 runs in progress",
    1, true) and out:find("both done", 1, true), "Salesforce's org limit: the queued start is said so")
end)
sandbox.stop()
if not ok then t.ok(false, "sandbox checks: " .. tostring(err)) end
os.remove(tmp)
os.remove(tmp .. ".journal")

do -- a finished run is let go at once, while its entry still waits in the list
  local tr = tracker(false)
  tr:started({ provider = "kapso", id = "stays", status = "running" })
  local gone = setmetatable({}, { __mode = "k" })
  local done_run = { provider = "kapso", id = "done", status = "running", cases = {} }
  gone[done_run] = true
  tr:started(done_run)
  tr:finished(done_run)
  done_run = nil -- luacheck: ignore 311
  collectgarbage()
  t.is(next(gone), nil, "the tracker keeps no finished run (its results, cases) alive")
end
t.done()
