-- Nothing lost: `kill -9` at seeded random points while 100 runs are in flight (right
-- after the start, mid-poll, while the reports are written), then `evalua resume`:
-- every run the journal holds is accounted for and reported with its results, reports
-- and the journal are never left half-written, a torn journal line is tolerated, and a
-- full disk when writing a report is a clear error that leaves the old report intact.
-- LOST_SEED=N picks other kill points (the seed in use is printed).
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"
local cjson = require "cjson.safe"

local ROOT = os.getenv("PWD")
local SEED = tonumber(os.getenv("LOST_SEED") or "") or 20240611
math.randomseed(SEED)
t.diag("LOST_SEED=" .. SEED)

local function sh(cmd, secs)
  local out, code = shell.sh(cmd, secs)
  return out, code == 0, code
end

local read = shell.read

local write = shell.write

local function exists(path) return read(path) ~= nil end

local dir = sh("mktemp -d"):gsub("%s+$", "")
local base = sandbox.start()
sandbox.control("config", { run_seconds = { 2, 4 }, max_in_progress = 1000, status_results_lag = 0.2 })

local ENV = table.concat({
  "SF_MY_DOMAIN=" .. base .. "/sf", "SF_CLIENT_ID=sandbox-client-id", "SF_CLIENT_SECRET=sandbox-client-secret",
  "KAPSO_BASE_URL=" .. base .. "/kapso/api/v1", "KAPSO_API_KEY=kapso-test-key",
  "FI_BASE_URL=" .. base .. "/fi", "FI_API_KEY=fi-test-key", "FI_SECRET_KEY=fi-test-secret",
}, " ")

-- The suite: LOST_RUNS tests (default 100), each starting one run on one of three
-- services and waiting for it with its results.
write(dir .. "/inflight_test.lua", [[
local agentforce = require "evalua.agentforce"
local kapso = require "evalua.kapso"
local futureagi = require "evalua.futureagi"
local sf, ka, fi = agentforce.connect({}), kapso.connect({ pass_score = 8 }), futureagi.connect({})
local SF = { "Order_Support_All_Pass", "Billing_Agent_Regressions", "Guest_Experience_Agent", "Travel_Agent_Case_Error" }
local KA = { "ca5e0000-0000-4000-8000-000000000001", "ca5e0000-0000-4000-8000-000000000002",
             "ca5e0000-0000-4000-8000-000000000004", "ca5e0000-0000-4000-8000-000000000005" }
for i = 1, tonumber(os.getenv("LOST_RUNS") or "100") do
  test(("run %03d"):format(i), function()
    local run
    if i % 10 < 4 then run = sf:start(SF[i % #SF + 1])
    elseif i % 10 < 7 then run = ka:start(KA[i % #KA + 1])
    else run = fi:start("d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30") end
    run:wait({ timeout = "60s", interval = "200ms", max_interval = "1s" })
    run:results()
    print(("%s %s: "):format(run.provider, run.id) .. string.rep("output ", 5000)) -- larger reports take longer to write
    expect(run.status):to_be_a("string")
  end)
end
]])

-- Start `evalua ARGS` in `dir` in the background; returns its pid. Its exit status
-- lands in dir/rc once it ended.
local function launch(args, extra_env)
  os.remove(dir .. "/rc")
  os.remove(dir .. "/pid")
  sh(("cd %s && ( env %s %s %s/bin/evalua %s > out 2> err & echo $! > pid; wait $!; echo $? > rc ) >/dev/null 2>&1 &")
    :format(dir, ENV, extra_env or "", ROOT, args))
  for _ = 1, 200 do
    local pid = (read(dir .. "/pid") or ""):match("%d+")
    if pid then return pid end
    task.sleep(0.02)
  end
  error("evalua did not start")
end

-- The background evalua's exit status once it ended (nil after `secs`).
local function exit_status(secs)
  for _ = 1, (secs or 10) * 20 do
    local rc = (read(dir .. "/rc") or ""):match("%d+")
    if rc then return tonumber(rc) end
    task.sleep(0.05)
  end
end

local function sandbox_started()
  local n, terminal = 0, 0
  for _, s in pairs(sandbox.control("stats").runs) do
    n, terminal = n + s.started, terminal + s.terminal
  end
  return n, terminal
end

-- The journal's lines: {decoded...}, the number of lines that do not decode, whether
-- the only one that does not is the last, and whether the file ends with a newline.
local function journal_lines(path)
  local text = read(path) or ""
  local list, bad, bad_at = {}, 0, nil
  local n = 0
  for line in text:gmatch("[^\n]+") do
    n = n + 1
    local e = cjson.decode(line)
    if type(e) == "table" then list[#list + 1] = e else bad, bad_at = bad + 1, n end
  end
  return list, bad, bad == 0 or (bad == 1 and bad_at == n), text == "" or text:sub(-1) == "\n"
end

-- Journal keys: started ones, and which of those are finished.
-- Resume entries for starts that were in flight at the kill (no run id to attach to).
local function lost_starts(data)
  local n = 0
  for _, e in ipairs(data and data.tests or {}) do
    if e.error and e.error.kind == "unknown" then n = n + 1 end
  end
  return n
end

local function journal_keys(path)
  local started, finished, order = {}, {}, {}
  for _, e in ipairs((journal_lines(path))) do
    if e.event == "started" and not started[e.key] then
      started[e.key] = true
      order[#order + 1] = e.key
    elseif e.event == "finished" then
      finished[e.key] = true
    end
  end
  return order, started, finished
end

-- Every report file that exists parses: JSON decodes, JUnit passes xmllint, the HTML
-- page is whole, TAP has its plan.
local function check_reports(label, names)
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    local text = read(path)
    if text then
      if name:match("%.json$") then
        local data = cjson.decode(text)
        t.ok(type(data) == "table" and data.format ~= nil and data.summary ~= nil, label .. ": " .. name .. " is whole JSON")
      elseif name:match("%.xml$") then
        local out, ok = sh("xmllint --noout " .. path)
        t.ok(ok and text:find("</testsuites>%s*$") ~= nil, label .. ": " .. name .. " passes xmllint")
        if not ok then t.diag(out) end
      elseif name:match("%.html$") then
        t.ok(text:find("</html>%s*$") ~= nil, label .. ": " .. name .. " is a whole page")
      elseif name:match("%.tap$") then
        t.ok(text:find("\n1%.%.%d+\n") ~= nil or text:find("^1%.%.%d+\n") ~= nil, label .. ": " .. name .. " has its plan")
      end
    end
  end
end

local REPORTS = { "r.json", "r.xml", "r.html", "r.tap" }
local TEST_ARGS = "test --jobs 100 -r json:r.json -r junit:r.xml -r html:r.html -r tap:r.tap --journal j inflight_test.lua"

-- Kill evalua (`when` decides the moment), check what it left, resume, check that
-- every journalled run is accounted for.
local function kill_and_resume(label, when)
  local status, all_started
  -- The moment may be missed (evalua already done): try again, three times at most.
  for _ = 1, 3 do
    sandbox.control("reset", { keep_config = true })
    sh("cd " .. dir .. " && rm -f j r.* r.*.tmp-* resumed.*")
    local pid = launch(TEST_ARGS)
    all_started = when(pid)
    sh("kill -9 " .. pid)
    status = exit_status(90)
    if status == 137 then break end
    t.diag(label .. ": evalua ended before the kill (status " .. tostring(status) .. "), trying again")
  end
  t.is(status, 137, label .. ": evalua was killed")

  local n_sandbox = sandbox_started()
  local _, bad, torn_last, newline = journal_lines(dir .. "/j")
  t.ok(torn_last, label .. ": every journal line decodes but at most a torn last one")
  if bad > 0 or not newline then t.diag(label .. ": the journal ends with a torn line") end
  local keys, _, finished = journal_keys(dir .. "/j")
  t.ok(#keys <= n_sandbox, ("%s: the journal holds %d runs, the service created %d"):format(
    label, #keys, n_sandbox))
  if all_started then
    t.is(#keys, 100, label .. ": every one of the 100 runs is in the journal")
  elseif #keys < n_sandbox then
    t.diag(("%s: %d start(s) were answered by the service but not journalled (in flight at the kill)"):format(
      label, n_sandbox - #keys))
  end
  check_reports(label .. " (killed)", REPORTS)
  local tmps = sh("cd " .. dir .. " && ls | grep -c '\\.tmp-' ; true"):match("%d+")
  if tonumber(tmps) > 0 then t.diag(label .. ": " .. tmps .. " temporary report file(s) left by the kill") end

  local pending = {}
  for _, k in ipairs(keys) do
    if not finished[k] then pending[#pending + 1] = k end
  end
  local out, _, code = sh(("cd %s && env %s %s/bin/evalua resume -t 60s --journal j -r json:resumed.json "
    .. "-r junit:resumed.xml"):format(dir, ENV, ROOT), 90)
  -- A run is finished in the journal only once the killed session's reports hold it:
  -- every journalled run is in those reports or in resume's. None is lost.
  local killed = cjson.decode(read(dir .. "/r.json") or "")
  local reported = {}
  for _, e in ipairs(type(killed) == "table" and killed.tests or {}) do
    for _, run in ipairs(e.runs or {}) do reported[run.provider .. ":" .. run.id] = true end
  end
  local resumed_runs = {}
  for _, e in ipairs((cjson.decode(read(dir .. "/resumed.json") or "") or {}).tests or {}) do
    for _, run in ipairs(e.runs or {}) do resumed_runs[run.provider .. ":" .. run.id] = true end
  end
  local lost_runs = 0
  for _, k in ipairs(keys) do
    if not (reported[k] or resumed_runs[k]) then lost_runs = lost_runs + 1 end
  end
  t.is(lost_runs, 0, ("%s: 0 of the %d journalled runs lost (each in the killed session's reports or resume's)")
    :format(label, #keys))
  if #pending == 0 then
    local lost = lost_starts(cjson.decode(read(dir .. "/resumed.json") or ""))
    t.ok((code == 0 and out:find("nothing to resume", 1, true)) or (code == 4 and lost > 0),
      label .. ": resume has no run to wait for (only starts that were in flight, if any)")
    return
  end
  local data = cjson.decode(read(dir .. "/resumed.json") or "")
  -- A start whose answer never arrived is reported as infra (a run may exist unseen).
  local lost = lost_starts(data)
  t.ok(code == 0 or code == 1 or (code == 4 and lost > 0),
    ("%s: resume exits 0 or 1 (4 with %d start(s) in flight), got %s"):format(label, lost, tostring(code)))
  if not (code == 0 or code == 1 or (code == 4 and lost > 0)) then t.diag(out) end
  if bad > 0 then t.like(out, "skipped 1 unreadable journal line", label .. ": resume says it skipped the torn line") end
  t.ok(data ~= nil, label .. ": resume wrote its JSON report")
  data = data or { tests = {} }
  local seen, complete = {}, 0
  for _, e in ipairs(data.tests) do
    local run = e.runs and e.runs[1]
    if run then
      seen[run.provider .. ":" .. run.id] = true
      if run.status and run.status ~= "queued" and run.status ~= "running" and #(run.cases or {}) > 0 then
        complete = complete + 1
      end
    end
  end
  local missing = 0
  for _, k in ipairs(pending) do
    if not seen[k] then missing = missing + 1 end
  end
  t.is(missing, 0, ("%s: resume's report lists every one of the %d unfinished runs"):format(label, #pending))
  t.is(complete, #pending, label .. ": each with its final status and cases")
  check_reports(label .. " (resumed)", { "resumed.json", "resumed.xml" })
  local after = journal_keys(dir .. "/j")
  local _, _, fin = journal_keys(dir .. "/j")
  local unfinished = 0
  for _, k in ipairs(after) do
    if not fin[k] then unfinished = unfinished + 1 end
  end
  t.is(unfinished, 0, label .. ": the journal has nothing unfinished after resume")
  local created, terminal = sandbox_started()
  t.is(terminal, created, label .. ": every run the service created has ended")
  local _, bad_after = journal_lines(dir .. "/j")
  t.is(bad_after, bad, label .. ": resume's appends leave the journal readable")
end

local function body()
  -- 1. Right after the start: a random moment while the 100 starts are going out.
  kill_and_resume("kill right after start", function()
    task.sleep(0.02 + math.random() * 0.08)
    return false
  end)

  -- 2. Mid-poll: every start answered (the service created 100 runs), then a random
  --    moment while they are polled.
  kill_and_resume("kill mid-poll", function()
    for _ = 1, 200 do
      if sandbox_started() >= 100 then break end
      task.sleep(0.05)
    end
    task.sleep(0.3 + math.random() * 1.2)
    return true
  end)

  -- 3. While the reports are written: kill as soon as the temporary file of a
  --    randomly chosen report appears (the reports are written one after another).
  local which = REPORTS[math.random(1, #REPORTS)]
  kill_and_resume("kill while writing " .. which, function(pid)
    local tmp = dir .. "/" .. which .. ".tmp-" .. pid
    local out = sh(('i=0; while [ ! -e %s ] && [ -e /proc/%s ] && [ $i -lt 3000000 ]; do i=$((i+1)); done; echo $i')
      :format(tmp, pid), 40)
    t.diag("report writing reached after " .. out:gsub("%s+$", "") .. " spins")
    return true
  end)

  -- 4. A start whose answer is in flight at the kill: the service created the run, the
  --    answer trickles in (sandbox `slow` fault), evalua is killed before it arrived.
  --    The journal records each start before it is sent; resume reports a start that got
  --    no answer as a run that may exist on the service.
  sandbox.control("reset", { keep_config = true })
  sh("cd " .. dir .. " && rm -f j r.* r.*.tmp-* resumed.*")
  sandbox.control("faults", { rules = { { path = "/test_runs$", method = "POST", action = "slow", delay = 6, chunks = 6 } } })
  local pid = launch(TEST_ARGS, "LOST_RUNS=10")
  for _ = 1, 100 do
    if sandbox_started() >= 10 and #journal_keys(dir .. "/j") >= 9 then break end
    task.sleep(0.05)
  end
  task.sleep(0.3)
  sh("kill -9 " .. pid)
  exit_status()
  local created = sandbox_started()
  local keys, _, finished = journal_keys(dir .. "/j")
  local done = 0
  for _ in pairs(finished) do done = done + 1 end
  t.is(created, 10, "in-flight start: the service created 10 runs")
  local out = sh(("cd %s && env %s %s/bin/evalua resume -t 60s --journal j -r json:resumed.json"):format(dir, ENV, ROOT), 90)
  local data = cjson.decode(read(dir .. "/resumed.json") or "") or { tests = {} }
  t.is(#data.tests, created - done, ("in-flight start: resume accounts for every unfinished run the service created "
    .. "(the journal has %d of %d)"):format(#keys, created))
  if #data.tests ~= created - done then t.diag(out) end
end

-- A torn journal: the last line cut by a crash (half a line, or a whole line without its
-- newline). Resume reports it, resumes the rest, and its own appends stay readable.
local function torn_journal()
  sandbox.control("reset", { keep_config = true })
  sh("cd " .. dir .. " && rm -f j r.* r.*.tmp-* resumed.*")
  local pid = launch(TEST_ARGS, "LOST_RUNS=6")
  for _ = 1, 100 do
    if #journal_keys(dir .. "/j") >= 6 then break end
    task.sleep(0.05)
  end
  sh("kill -9 " .. pid)
  exit_status()
  local whole = read(dir .. "/j")
  for _, variant in ipairs({ "half a line", "no final newline" }) do
    local cut
    if variant == "half a line" then
      local last = whole:match("([^\n]+)\n$")
      cut = whole:sub(1, #whole - 1 - #last // 2)
    else
      cut = whole:sub(1, -2)
    end
    write(dir .. "/j", cut)
    local n_before = #journal_keys(dir .. "/j")
    local out, _, code = sh(("cd %s && env %s %s/bin/evalua resume -t 60s --journal j -r json:resumed.json")
      :format(dir, ENV, ROOT), 90)
    local resumed = cjson.decode(read(dir .. "/resumed.json") or "") or { tests = {} }
    local lost = lost_starts(resumed)
    t.ok(code == 0 or code == 1 or (code == 4 and lost > 0), variant .. ": resume copes with a torn last journal line")
    if variant == "half a line" then
      t.like(out, "skipped 1 unreadable journal line%(s%) in j", variant .. ": and says it skipped it")
    end
    -- (a torn `started` line leaves its start unresolved: reported on top of the runs)
    t.is(#resumed.tests - lost, n_before, variant .. ": every readable unfinished run is resumed")
    -- fs.append_line ends a torn tail before appending, so resume's own records stay
    -- readable lines.
    local list = require("evalua.journal").unfinished(dir .. "/j")
    t.is(#list, 0, variant .. ": after resume nothing is left unfinished")
    local _, bad = journal_lines(dir .. "/j")
    t.is(bad, variant == "half a line" and 1 or 0, variant .. ": only the torn line is unreadable")
  end
end

-- A full disk when writing a report: a clear error (exit 3) naming the path and the OS
-- error; the old report stays as it was; no temporary file is left.
local function full_disk()
  write(dir .. "/big_test.lua", [[
test("writes a lot", function() print(string.rep("x", 400000)) end)
]])
  -- A real full file system: a small tmpfs filled up (needs mount rights; root in CI).
  local mnt = dir .. "/mnt"
  sh("mkdir -p " .. mnt)
  local _, mounted = sh("mount -t tmpfs -o size=256k evalua-full " .. mnt)
  if mounted then
    local ok, err = pcall(function()
      write(mnt .. "/report.json", '{"old":true}\n')
      local old = read(mnt .. "/report.json")
      sh("dd if=/dev/zero of=" .. mnt .. "/filler bs=4k 2>/dev/null; true")
      local out, _, code = sh(("cd %s && %s/bin/evalua test --journal %s/jd -r json:%s/report.json big_test.lua")
        :format(dir, ROOT, dir, mnt))
      t.is(code, 3, "full disk (ENOSPC): the report that cannot be written makes the exit code 3")
      t.like(out, "cannot write json report " .. mnt:gsub("%p", "%%%0") .. "/report%.json: .*No space left on device",
        "full disk: the message names the report's path and the OS error")
      t.ok(read(mnt .. "/report.json") == old, "full disk: the old report is intact")
      t.is(sh("ls " .. mnt .. " | grep -c tmp; true"):match("%d+"), "0", "full disk: no temporary file left behind")
      -- The journal on a full disk: a run must not start unrecorded.
      out, _, code = sh(("cd %s && env %s %s/bin/evalua test --journal %s/journal inflight_test.lua")
        :format(dir, ENV .. " LOST_RUNS=1", ROOT, mnt))
      t.ok(code ~= 0 and out:find(mnt .. "/journal", 1, true) and out:find("No space left on device", 1, true),
        "full disk: a journal that cannot record a run is an error naming it")
      if code == 0 then t.diag(out) end
    end)
    sh("umount " .. mnt)
    if not ok then error(err, 0) end
  else
    t.diag("tmpfs cannot be mounted here: the ENOSPC case is skipped (the RLIMIT_FSIZE one runs)")
  end

  -- No mount rights needed: RLIMIT_FSIZE makes the write fail (EFBIG) once the file
  -- would grow past the limit. SIGXFSZ is ignored (as a shell's `trap '' XFSZ`) so the
  -- write returns the error instead of the signal ending the process.
  write(dir .. "/old.json", '{"old":true}\n')
  local out, _, code = sh(("cd %s && trap \"\" XFSZ && ulimit -f 200 && exec %s/bin/evalua test --journal jf "
    .. "-r json:old.json big_test.lua"):format(dir, ROOT))
  t.is(code, 3, "file size limit (EFBIG): exit code 3")
  t.like(out, "cannot write json report old%.json: .*File too large", "file size limit: path and OS error named")
  t.is(read(dir .. "/old.json"), '{"old":true}\n', "file size limit: the old report is intact")
  t.is(sh("cd " .. dir .. " && ls | grep -c 'old.json.tmp'; true"):match("%d+"), "0",
    "file size limit: no temporary file left behind")
  -- Without the trap the kernel's SIGXFSZ ends evalua (as it would any program); the old
  -- report still stands.
  _, _, code = sh(("cd %s && ulimit -f 200 && exec %s/bin/evalua test --journal jf -r json:old.json big_test.lua")
    :format(dir, ROOT))
  t.diag("without ignoring SIGXFSZ evalua ends with status " .. tostring(code))
  t.is(read(dir .. "/old.json"), '{"old":true}\n', "file size limit, SIGXFSZ not ignored: the old report is intact")
  sh("cd " .. dir .. " && rm -f old.json.tmp-*")
end

local ok, err = xpcall(function()
  body()
  torn_journal()
  full_disk()
end, debug.traceback)
sandbox.stop()
if exists(dir .. "/mnt/filler") then sh("umount " .. dir .. "/mnt") end
if os.getenv("KEEP") then t.diag("kept " .. dir) else sh("rm -rf " .. dir) end
if not ok then error(err, 0) end
t.done()
