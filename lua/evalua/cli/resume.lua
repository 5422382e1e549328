-- `evalua resume`: re-attach to the runs the journal lists as unfinished (left by a
-- crash, kill -9 or Ctrl-C), wait for them, mark them done and report their results.
-- Each run becomes one entry: passed when every case passed, failed when a case or the
-- run failed, infra when the service could not be reached.
local errors = require "evalua.errors"
local json = require "evalua.json"
local task = require "evalua.task"
local args = require "evalua.runner.args"
local journal = require "evalua.journal"
local report = require "evalua.report"
local session = require "evalua.runner.session"
local stats = require "evalua.runner.stats"

local cli = {}

local OPTIONS = {
  { long = "--journal", arg = "PATH", help = "journal to read (default .evalua/journal)" },
  { long = "--list", short = "-l", help = "list the unfinished runs and exit" },
  { long = "--timeout", short = "-t", arg = "DURATION", help = "how long to wait for each run (default 30m)" },
  { long = "--reporter", short = "-r", arg = "NAME[:FILE]", many = true,
    help = "pretty, tap, junit, json, html; to stdout or FILE (repeatable)" },
  { long = "--help", short = "-h", help = "show this help" },
}

local USAGE = [[
usage: evalua resume [options]

Waits for the runs an interrupted `evalua test` or script left running, then reports
them. Exit code: 0 all passed, 1 a run or case failed, 2 usage, 3 error, 4 infra.

options:
]]

local function usage_error(msg)
  io.stderr:write("evalua resume: ", msg, "\n")
  return 2
end

local function list(pending)
  for _, e in ipairs(pending) do
    io.stdout:write(("%-40s started %s%s\n"):format(e.key, e.time or "?",
      e.test and (" by " .. e.test .. (e.file and (" (" .. e.file .. ")") or "")) or ""))
  end
end

-- Outcome of a resumed run: its own verdict, as a test would have it.
local function judge(entry, run)
  if run.status ~= "completed" then
    entry.outcome = "failed"
    entry.failures[1] = { message = ("run ended %s%s"):format(tostring(run.status),
      run.raw_status and (" (service said " .. tostring(run.raw_status) .. ")") or ""),
      expected = "completed", actual = tostring(run.status) }
    return
  end
  for _, case in ipairs(run.cases or {}) do
    if stats.case_verdict(case) == false then
      entry.failures[#entry.failures + 1] = { message = ("case %s failed"):format(tostring(case.name)) }
    end
  end
  entry.outcome = #entry.failures > 0 and "failed" or "passed"
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
local function resume_one(e, entry, timeout, j)
  if e.pending_start then return report_lost_start(e, entry, j) end
  local d = e.run
  local t0 = task.now()
  local ok, err = pcall(function()
    local provider = require("evalua." .. tostring(d.provider))
    local run = provider.connect({ base_url = d.base_url }):attach(d)
    run:wait({ timeout = timeout })
    if run.results then run:results() end
    j:finish(run)
    entry.runs[1] = session.plain(run)
    judge(entry, run)
  end)
  entry.duration = task.now() - t0
  if not ok then
    local infra = errors.is(err) and errors.infra_kinds[err.kind]
    entry.outcome = infra and "infra" or "error"
    entry.error = { message = tostring(err), kind = errors.is(err) and err.kind or nil }
  end
end

function cli.main(argv)
  local o, rest = args.command("resume", argv, OPTIONS, USAGE)
  if not o then return rest end
  if #rest > 0 then return usage_error("unexpected argument " .. rest[1]) end
  local timeout, terr = args.duration(o.timeout or "30m", "--timeout")
  if not timeout then return usage_error(terr) end
  local reporters, rerr = report.parse_all(o.reporter)
  if not reporters then return usage_error(rerr) end
  local path = o.journal or journal.DEFAULT
  local pending, bad = journal.unfinished(path)
  if bad > 0 then io.stderr:write(("evalua resume: skipped %d unreadable journal line(s) in %s\n"):format(bad, path)) end
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
  local stop = j:listen()
  local data = { format = session.FORMAT, evalua = require("evalua").version, resumed = true,
                 started_at = os.date("!%Y-%m-%dT%H:%M:%SZ"), files = json.array(), tests = json.array() }
  local d = report.open(reporters)
  d:start(data)
  d:planned(data)
  local t0 = task.now()
  local handles = {}
  for i, e in ipairs(pending) do
    local entry = { kind = "resume", id = e.key, file = e.file or path, file_index = 0, seq = i,
                    name = e.key, full_name = (e.test and (e.test .. " > ") or "") .. e.key,
                    failures = json.array(), runs = json.array(), path = json.array() }
    data.tests[i] = entry
    handles[i] = task.spawn(function()
      resume_one(e, entry, timeout, j)
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
  return data.exit_code
end

return cli
