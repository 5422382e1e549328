-- `evalua test [options] [PATH...]`: find *_test.lua files, run them, report, and
-- return the exit code (2 usage, 3 any error, 4 any infra, 1 any failure, 0). Runs that
-- ended are finished in the journal once the reports holding them are written.
local fs = require "evalua.fs"
local args = require "evalua.runner.args"
local baseline = require "evalua.runner.baseline"
local budget = require "evalua.runner.budget"
local context = require "evalua.runner.context"
local journal = require "evalua.journal"
local report = require "evalua.report"
local runner = require "evalua.runner"
local repeats = require "evalua.runner.repeats"

local cli = {}

local OPTIONS = {
  { long = "--jobs", short = "-j", arg = "N", help = "run up to N tests at once (default 8; 1 = serial)" },
  { long = "--timeout", short = "-t", arg = "DURATION", help = "per-test timeout (default 10m; 0 = none)" },
  { long = "--filter", short = "-f", arg = "PATTERN", help = "only tests whose full name matches (Lua pattern)" },
  { long = "--tag", arg = "TAG", many = true, help = "only tests with this tag (repeatable: any of them)" },
  { long = "--repeat", arg = "N", help = "run every selected test N times" },
  { long = "--pass-rate", arg = "R", help = "with --repeat: a test passes when at least R (0.8, 80%) of its repeats do" },
  { long = "--retries", arg = "N", help = "re-run a test that did not pass up to N times; passing on a retry is flaky" },
  { long = "--fail-on-flaky", help = "a flaky test fails the build (exit 1)" },
  { long = "--bail", help = "stop at the first failure, error or infra failure" },
  { long = "--shard", arg = "K/N", help = "run the K-th of N round-robin slices of the test list" },
  { long = "--reporter", short = "-r", arg = "NAME[:FILE]", many = true,
    help = "pretty, tap, junit, json, html; to stdout or FILE (repeatable; pretty stays on stdout "
      .. "unless a reporter writes there)" },
  { long = "--journal", arg = "PATH", help = "run journal (default .evalua/journal)" },
  { long = "--cancel-on-interrupt", help = "on Ctrl-C also cancel the remote runs in flight" },
  { long = "--max-runs", arg = "N", help = "start at most N runs; then skip what would start more (exit 1)" },
  { long = "--on-budget", arg = "POLICY", help = "when the budget is used up: finish (default) or cancel the rest" },
  { long = "--baseline", arg = "FILE", help = "judge no_worse_than thresholds against this JSON report" },
  { long = "--baseline-missing", arg = "MODE",
    help = "a no_worse_than gate without a baseline value: fail (default) or skip" },
  { long = "--save-baseline", arg = "FILE", help = "write the JSON report to FILE as a baseline, if the session passed" },
  { long = "--save-baseline-always", help = "with --save-baseline: write it even when the session failed" },
  { long = "--help", short = "-h", help = "show this help" },
}

local USAGE = [[
usage: evalua test [options] [PATH...]

Runs the *_test.lua files found under each directory PATH (default: .) and the files
named directly. Exit code: 0 all passed (flaky tests too, unless --fail-on-flaky),
1 failures, 2 usage (also: a filter, tag or shard that selects no test), 3 errors,
4 infra, 130 interrupted.

Baselines: --save-baseline FILE keeps the JSON report of a passing session;
--baseline FILE judges threshold{ metrics = { m = { no_worse_than = "2%" } } } against
it ("m 88% (was 93% in FILE, −5%)"). A gate with no baseline value fails unless
--baseline-missing=skip. `evalua report diff FILE NEW.json` shows what changed.

options:
]]

local function usage_error(msg)
  io.stderr:write("evalua test: ", msg, "\n")
  return 2
end

-- *_test.lua files under `dir`, sorted, hidden directories skipped.
local function find_tests(dir, out)
  for _, name in ipairs(fs.list(dir)) do
    local path = (dir == "." and "" or (dir:gsub("/$", "") .. "/")) .. name
    if name:sub(1, 1) ~= "." then
      if fs.isdir(path) then
        find_tests(path, out)
      elseif name:match("_test%.lua$") then
        out[#out + 1] = path
      end
    end
  end
  return out
end

-- The options checked and converted, or nil and a usage message.
local function configure(argv)
  local o, paths = args.parse(argv, OPTIONS)
  if not o then return nil, paths end
  if o.help then return { help = true } end
  local cfg = { paths = #paths > 0 and paths or { "." }, bail = o.bail == true,
                cancel_on_interrupt = o.cancel_on_interrupt == true, journal = o.journal }
  local err
  -- Defaults from the active profile of evalua.config.lua; the command line wins.
  local defaults = require("evalua.config").get("test")
  o.jobs = o.jobs or (defaults.jobs and tostring(defaults.jobs))
  o.timeout = o.timeout or (defaults.timeout and tostring(defaults.timeout))
  o.reporter = o.reporter or defaults.reporters
  cfg.jobs, err = args.count(o.jobs or "8", "--jobs")
  if not cfg.jobs then return nil, err end
  cfg.repeat_count, err = args.count(o["repeat"] or "1", "--repeat")
  if not cfg.repeat_count then return nil, err end
  cfg.retries, err = args.count(o.retries or "0", "--retries", 0)
  if not cfg.retries then return nil, err end
  cfg.fail_on_flaky = o.fail_on_flaky == true
  if o.pass_rate then
    cfg.pass_rate, err = repeats.parse_rate(o.pass_rate)
    if not cfg.pass_rate then return nil, "--pass-rate: " .. err end
    if cfg.repeat_count < 2 then return nil, "--pass-rate needs --repeat N (N >= 2)" end
  end
  cfg.timeout, err = args.duration(o.timeout or "10m", "--timeout")
  if not cfg.timeout then return nil, err end
  if o.filter and not pcall(string.find, "", o.filter) then
    return nil, ("--filter: '%s' is not a valid Lua pattern"):format(o.filter)
  end
  cfg.filter = o.filter
  if o.tag then
    cfg.tags = {}
    for _, t in ipairs(o.tag) do cfg.tags[t] = true end
  end
  if o.shard then
    local k, n = o.shard:match("^(%d+)/(%d+)$")
    k, n = tonumber(k), tonumber(n)
    if not k or n < 1 or k < 1 or k > n then
      return nil, ("--shard expects K/N with 1 <= K <= N, got '%s'"):format(o.shard)
    end
    cfg.shard = { k = k, n = n }
  end
  if o.max_runs then
    cfg.max_runs, err = args.count(o.max_runs, "--max-runs")
    if not cfg.max_runs then return nil, err end
  end
  if o.on_budget and not budget.POLICIES[o.on_budget] then
    return nil, ("--on-budget expects finish or cancel, got '%s'"):format(o.on_budget)
  end
  cfg.on_budget = o.on_budget
  if o.baseline_missing and not baseline.MISSING[o.baseline_missing] then
    return nil, ("--baseline-missing expects fail or skip, got '%s'"):format(o.baseline_missing)
  end
  cfg.baseline_missing = o.baseline_missing
  if o.baseline then
    local ok, b = pcall(baseline.load, o.baseline)
    if not ok then return nil, "--baseline: " .. tostring(b) end
    cfg.baseline = b
  end
  if o.save_baseline_always and not o.save_baseline then return nil, "--save-baseline-always needs --save-baseline FILE" end
  cfg.save_baseline, cfg.save_baseline_always = o.save_baseline, o.save_baseline_always == true
  if cfg.save_baseline and cfg.shard then
    return nil, "--save-baseline with --shard: a shard holds part of the suite; save the merged report "
      .. "(evalua report merge SHARDS... -o FILE.json) as the baseline"
  end
  cfg.reporters, err = report.parse_all(o.reporter)
  if not cfg.reporters then return nil, err end
  return cfg
end

local function collect_files(paths)
  local files, seen = {}, {}
  for _, p in ipairs(paths) do
    if not fs.exists(p) then return nil, ("no such file or directory: %s"):format(p) end
    for _, f in ipairs(fs.isdir(p) and find_tests(p, {}) or { p }) do
      if not seen[f] then
        seen[f] = true
        files[#files + 1] = f
      end
    end
  end
  if #files == 0 then return nil, "no *_test.lua files found in " .. table.concat(paths, ", ") end
  return files
end

-- Ctrl-C: write what finished, say how to resume, cancel remote runs only if asked.
local function on_interrupt(r, cfg, j)
  local data = r:interrupt()
  if #(cfg.report.errors or {}) == 0 then j:reported() end
  local pending = r:unfinished_runs()
  if cfg.cancel_on_interrupt then
    for _, run in ipairs(pending) do
      local ok, err = pcall(run.cancel, run)
      -- (the session may have stopped listening meanwhile: journal the confirmed cancel here too)
      if ok and err then j:finish(run, "cancelled") end -- (cancel returns false when it had ended)
      io.stderr:write(("evalua test: %s %s:%s\n"):format(ok and "cancelled" or "could not cancel",
        tostring(run.provider), tostring(run.id)) .. (ok and "" or (": " .. tostring(err))) .. "\n")
    end
  elseif #pending > 0 then
    io.stderr:write(("evalua test: interrupted; %d run(s) still running remotely. Collect them with:\n"
      .. "  evalua resume%s\n"):format(#pending, cfg.journal and (" --journal " .. cfg.journal) or ""))
  end
  return data
end

-- --save-baseline: write it (or say why not); a baseline that cannot be written is an
-- error like a report that cannot be (exit 3).
local function save_baseline(cfg, data)
  local ok, saved, why = pcall(baseline.save, cfg.save_baseline, data, cfg.save_baseline_always)
  if not ok then
    io.stderr:write("evalua test: cannot write the baseline ", cfg.save_baseline, ": ", tostring(saved), "\n")
    return 3
  end
  if not saved then
    io.stderr:write("evalua test: baseline ", cfg.save_baseline, " not saved: ", why, "\n")
  elseif data.exit_code ~= 0 then
    io.stderr:write(("evalua test: saved baseline %s from a session that did not pass (exit %d)\n")
      :format(cfg.save_baseline, data.exit_code))
  else
    io.stderr:write("evalua test: saved baseline ", cfg.save_baseline, "\n")
  end
  return data.exit_code
end

function cli.main(argv)
  local cfg, err = configure(argv)
  if not cfg then return usage_error(err) end
  if cfg.help then
    io.stdout:write(USAGE, args.help(OPTIONS), "\n")
    return 0
  end
  local files, ferr = collect_files(cfg.paths)
  if not files then return usage_error(ferr) end
  local ok, j = pcall(journal.open, cfg.journal, { shared_by = "test" })
  if not ok then return usage_error("cannot open the journal: " .. tostring(j)) end
  local evalua = require "evalua"
  cfg.files, cfg.version, cfg.argv = files, evalua.version, argv
  cfg.report = report.open(cfg.reporters)
  local r = runner.new(cfg)
  if cfg.baseline or cfg.baseline_missing then baseline.attach(r.data, cfg.baseline, cfg.baseline_missing) end
  local red = cfg.baseline and cfg.baseline.data.exit_code
  if red and red ~= 0 then
    io.stderr:write(("evalua test: note: baseline %s is from a session that did not pass (exit %s)\n")
      :format(cfg.baseline.file, tostring(red)))
  end
  local stop_budget = cfg.max_runs and budget.watch(r, cfg) or function() end
  -- A run that ended is finished in the journal only once the reports holding its
  -- verdict are written: a kill before that leaves it to `evalua resume`.
  local stop_journal = j:listen(function()
    local owner = context.owner()
    local e = owner and owner.entry
    return e and { test = e.full_name, file = e.file }
  end, { until_reported = true })
  evalua.on_interrupt(function() on_interrupt(r, cfg, j) end)
  local ran, data = pcall(r.run, r)
  stop_journal()
  stop_budget()
  if not ran then error(data, 0) end
  if #(cfg.report.errors or {}) == 0 then j:reported() end
  if data.usage_error then io.stderr:write("evalua test: ", data.usage_error, "\n") end
  for _, msg in ipairs(cfg.report.errors or {}) do io.stderr:write("evalua test: ", msg, "\n") end
  if #(cfg.report.errors or {}) > 0 then return 3 end
  if cfg.save_baseline then return save_baseline(cfg, data) end
  return data.exit_code
end

return cli
