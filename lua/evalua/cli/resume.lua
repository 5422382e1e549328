-- `evalua resume`: re-attach to the runs the journal lists as unfinished (left by a
-- crash, kill -9 or Ctrl-C), wait for them, report their results, and mark them done
-- once the reports are written. Each run becomes one entry: passed when every case
-- passed, failed when a case or the run failed, no_verdict when a case has no pass/fail
-- verdict (never a pass, unless --accept-no-verdict), infra when the service could not
-- be reached. Credentials and base URLs come from the user's configuration, never from
-- the journal (a file others can shape): a run at another origin is not contacted.
local errors = require "evalua.errors"
local json = require "evalua.json"
local task = require "evalua.task"
local args = require "evalua.runner.args"
local journal = require "evalua.journal"
local report = require "evalua.report"
local markup = require "evalua.report.markup"
local reattach = require "evalua.reattach"
local session = require "evalua.runner.session"
local stats = require "evalua.runner.stats"

local cli = {}

local OPTIONS = {
  { long = "--journal", arg = "PATH", help = "journal to read (default .evalua/journal)" },
  { long = "--list", short = "-l", help = "list the unfinished runs and exit" },
  { long = "--timeout", short = "-t", arg = "DURATION", help = "how long to wait for each run (default 30m)" },
  { long = "--reporter", short = "-r", arg = "NAME[:FILE]", many = true,
    help = "pretty, tap, junit, json, html; to stdout or FILE (repeatable)" },
  { long = "--pass-score", arg = "N", help = "pass mark for services that score without one (Kapso)" },
  { long = "--grader", arg = "FILE", help = "Lua file returning function(case, run) -> passed [, reason]" },
  { long = "--accept-no-verdict", help = "a run whose cases have no verdict does not fail the build" },
  { long = "--allow-origin", arg = "URL", many = true,
    help = "contact journal runs at this origin (scheme://host:port) too, with your credentials" },
  { long = "--help", short = "-h", help = "show this help" },
}

local USAGE = [[
usage: evalua resume [options]

Waits for the runs an interrupted `evalua test` or script left running (or finished
without a report), then reports them. Connects with your configuration (environment,
as for connect{}); a run the journal places at another origin is reported, not
contacted, unless --allow-origin names it. A run whose cases have no verdict is
"no verdict" (exit 1): grade it (--grader, --pass-score) or --accept-no-verdict.
Exit code: 0 all passed, 1 a run or case failed or has no verdict, 2 usage or
configuration, 3 error, 4 infra.

options:
]]

local LOCK_POLL = 0.2 -- seconds between tries while another resume holds the journal

local function usage_error(msg)
  io.stderr:write("evalua resume: ", msg, "\n")
  return 2
end

-- One line per run; what the journal says is shown escaped (it is a file others can shape).
local function list(pending)
  for _, e in ipairs(pending) do
    io.stdout:write(markup.line(("%-40s started %s%s"):format(e.key, e.time or "?",
      e.test and (" by " .. e.test .. (e.file and (" (" .. e.file .. ")") or "")) or "")), "\n")
  end
end

-- Why a case failed: each failing metric with its score, expected, actual and reason.
local function case_failure(case, reason)
  local parts = {}
  if reason then parts[#parts + 1] = tostring(reason) end
  if stats.present(case.error) then parts[#parts + 1] = "error: " .. tostring(case.error) end
  if case.status == "error" or case.status == "failed" then parts[#parts + 1] = "status " .. case.status end
  for _, m in ipairs(stats.metrics(case)) do
    if stats.flag(m.passed) == false then
      local d = {}
      if stats.number(m.score) then d[#d + 1] = ("score %.4g"):format(m.score) end
      if m.expected ~= nil then d[#d + 1] = "expected " .. tostring(m.expected) end
      if m.actual ~= nil then d[#d + 1] = "actual " .. tostring(m.actual) end
      if m.reason ~= nil then d[#d + 1] = "reason: " .. tostring(m.reason) end
      parts[#parts + 1] = ("metric %s failed%s"):format(tostring(m.name), #d > 0 and (" (" .. table.concat(d, ", ") .. ")") or "")
    end
  end
  return { message = ("case %s failed: %s"):format(tostring(case.name),
    #parts > 0 and table.concat(parts, "; ") or "the service says so") }
end

-- The verdict of one case: the grader's when it gives one, else the service's.
local function case_verdict(case, run, grader)
  if grader then
    local verdict, reason = grader(case, run)
    if verdict ~= nil then return verdict == true, reason end
  end
  return stats.case_verdict(case)
end

-- Outcome of a resumed run: its own verdict, as a test would have it. No verdict is
-- never a pass.
local function judge(entry, run, grader)
  if run.status ~= "completed" then
    entry.outcome = "failed"
    entry.failures[1] = { message = ("run ended %s%s"):format(tostring(run.status),
      run.raw_status and (" (service said " .. tostring(run.raw_status) .. ")") or ""),
      expected = "completed", actual = tostring(run.status) }
    return
  end
  local cases, unjudged = run.cases or {}, {}
  for i, case in ipairs(cases) do
    local verdict, reason = case_verdict(case, run, grader)
    if verdict == false then
      entry.failures[#entry.failures + 1] = case_failure(case, reason)
    elseif verdict == nil then
      unjudged[#unjudged + 1] = tostring(case.name or i)
    end
  end
  if #entry.failures > 0 then
    entry.outcome = "failed"
  elseif #cases == 0 or #unjudged > 0 then
    entry.outcome = "no_verdict"
    entry.failures[1] = { message = ("no verdict: %s: grade it (--grader FILE), or give a pass mark "
      .. "(--pass-score N), or accept it (--accept-no-verdict)"):format(#cases == 0 and "the run has no cases"
      or ("%d of %d cases have no pass/fail verdict (%s)"):format(#unjudged, #cases, table.concat(unjudged, ", "))) }
  else
    entry.outcome = "passed"
  end
end

-- A start that was on its way when evalua stopped: no id came back, so nothing can be
-- attached; say what may exist on the service, once.
local function report_lost_start(e, entry, j)
  local d = e.run or {}
  entry.outcome = "infra"
  entry.error = { kind = "unknown", message = ("a start of %s %s was in flight when evalua stopped (%s): "
    .. "the service may have created a run evalua never saw; look for it there"):format(
    tostring(d.provider), tostring(d.target), tostring(e.time)) }
  j:append({ event = "start_reported", key = e.key })
end

-- Attach, wait, fetch results; fills `entry`.
local function resume_one(e, entry, cfg, j)
  if e.pending_start then return report_lost_start(e, entry, j) end
  local d = e.run
  local t0 = task.now()
  local ok, err = pcall(function()
    local run = reattach.fetch(d, cfg)
    j:ended(run)
    entry.runs[1] = session.plain(run)
    judge(entry, run, cfg.grader)
  end)
  entry.duration = task.now() - t0
  if not ok then
    local infra = errors.is(err) and errors.infra_kinds[err.kind]
    entry.outcome = infra and "infra" or "error"
    entry.error = { message = tostring(err), kind = errors.is(err) and err.kind or nil }
  end
end

-- The options checked and converted, or nil and a usage message.
local function configure(o)
  local cfg = { allow_origin = {}, accept_no_verdict = o.accept_no_verdict == true }
  local err
  cfg.timeout, err = args.duration(o.timeout or "30m", "--timeout")
  if not cfg.timeout then return nil, err end
  cfg.reporters, err = report.parse_all(o.reporter)
  if not cfg.reporters then return nil, err end
  if o.pass_score then
    cfg.pass_score = tonumber(o.pass_score)
    if not cfg.pass_score then return nil, ("--pass-score expects a number, got '%s'"):format(o.pass_score) end
  end
  for _, url in ipairs(o.allow_origin or {}) do
    local at = reattach.origin(url)
    if not at then return nil, ("--allow-origin expects scheme://host[:port], got '%s'"):format(url) end
    cfg.allow_origin[at] = true
  end
  if o.grader then
    local chunk, lerr = loadfile(o.grader, "t")
    if not chunk then return nil, "--grader: " .. lerr end
    local ok, fn = pcall(chunk)
    if not ok or type(fn) ~= "function" then
      return nil, ("--grader %s must return a function(case, run)%s"):format(o.grader,
        ok and (", got " .. type(fn)) or (": " .. tostring(fn)))
    end
    cfg.grader = fn
  end
  return cfg
end

-- The journal for this process alone: waits (saying who holds it) while another
-- resume has it, up to `secs`. Returns the lock, or nil after `secs`.
local function hold(path, secs)
  local t0, said = task.now(), false
  while true do
    local lock, holder = journal.lock(path)
    if lock then return lock end
    if not said then
      io.stderr:write(("evalua resume: %s is in use by %s; waiting for it (up to %gs)\n"):format(path, holder, secs))
      said = true
    end
    if task.now() - t0 >= secs then return nil, holder end
    task.sleep(LOCK_POLL)
  end
end

-- The journal's unfinished runs; unusable lines are skipped, each named (unless `quiet`).
local function pending_runs(path, quiet)
  local pending, bad = journal.unfinished(path)
  if #bad > 0 and not quiet then
    io.stderr:write(("evalua resume: skipped %d unreadable journal line(s) in %s\n"):format(#bad, path))
    for _, b in ipairs(bad) do io.stderr:write(("  %s:%d: %s\n"):format(path, b.line, b.reason)) end
  end
  return pending
end

function cli.main(argv)
  local o, rest = args.command("resume", argv, OPTIONS, USAGE)
  if not o then return rest end
  if #rest > 0 then return usage_error("unexpected argument " .. rest[1]) end
  local cfg, cerr = configure(o)
  if not cfg then return usage_error(cerr) end
  local path = o.journal or journal.DEFAULT
  local ok, pending = pcall(pending_runs, path)
  if not ok then return usage_error(tostring(pending)) end
  if #pending > 0 and not o.list then
    local lock, holder = hold(path, cfg.timeout)
    if not lock then
      io.stderr:write("evalua resume: gave up waiting for ", path, " (held by ", tostring(holder), ")\n")
      return 4
    end
    cfg.lock = lock
    pending = pending_runs(path, true) -- what the holder finished is done
  end
  if #pending == 0 then
    io.stderr:write("evalua resume: nothing to resume in ", path, "\n")
    return 0
  end
  if o.list then
    list(pending)
    return 0
  end
  io.stderr:write(("evalua resume: waiting for %d run(s) from %s\n"):format(#pending, path))
  local j = journal.open(path)
  local stop = j:listen(nil, { until_reported = true })
  local data = { format = session.FORMAT, evalua = require("evalua").version, resumed = true,
                 accept_no_verdict = cfg.accept_no_verdict or nil,
                 started_at = os.date("!%Y-%m-%dT%H:%M:%SZ"), files = json.array(), tests = json.array() }
  for i, e in ipairs(pending) do
    data.tests[i] = { kind = "resume", id = e.key, file = e.file or path, file_index = 0, seq = i,
                      name = e.key, full_name = (e.test and (e.test .. " > ") or "") .. e.key,
                      failures = json.array(), runs = json.array(), path = json.array() }
  end
  local d = report.open(cfg.reporters)
  d:start(data)
  d:planned(data)
  local t0 = task.now()
  local handles = {}
  for i, e in ipairs(pending) do
    local entry = data.tests[i]
    handles[i] = task.spawn(function()
      resume_one(e, entry, cfg, j)
      d:test_end(entry, data)
    end)
  end
  for _, h in ipairs(handles) do task.wait(h) end
  stop()
  data.duration = task.now() - t0
  session.summarize(data)
  local failures = d:finish(data)
  for _, msg in ipairs(failures) do io.stderr:write("evalua resume: ", msg, "\n") end
  if #failures > 0 then return 3 end
  j:reported()
  cfg.lock:unlock()
  return data.exit_code
end

return cli
