-- The `evalua test` engine: loads test files, runs their tests as tasks (at most
-- `jobs` at once), keeps the four outcomes apart (passed, failed, error, infra) and
-- builds the session data that reporters and the exit code are made from.
local sched = require "evalua.sched"
local errors = require "evalua.errors"
local hooks = require "evalua.hooks"
local json = require "evalua.json"
local task = require "evalua.task"
local context = require "evalua.runner.context"
local diff = require "evalua.runner.diff"
local dsl = require "evalua.runner.dsl"
local expect = require "evalua.runner.expect"
local plan = require "evalua.runner.plan"
local record = require "evalua.runner.record"
local repeats = require "evalua.runner.repeats"
local session = require "evalua.runner.session"
local threshold = require "evalua.runner.threshold"

local runner = {}

local Runner = {}
Runner.__index = Runner

local THRESHOLD_SEQ = 1000000  -- thresholds and hook errors sort after a file's tests
local HOOK_SEQ = 2000000

-- A raise whose value is nil (`error()`, `error(nil)`, `assert(x, nil)`) still failed:
-- it becomes this, placed at the user's line that raised it.
local function nil_raise(tb)
  local at = errors.first_user_frame(tb)
  return (at and (at .. ": ") or "") .. "error raised with a nil value (error(), error(nil) or assert(v, nil))"
end

-- Run fn(arg); return nil, or the value it raised (never nil: any raise is an error,
-- whatever its value) and the traceback where it was raised.
local function protect(fn, arg)
  local tb
  local ok, err = xpcall(fn, function(e)
    if not (expect.is_failure(e) or dsl.is_skip(e)) then tb = debug.traceback(nil, 2) end
    return e
  end, arg)
  if ok then return nil end
  if err == nil then err = nil_raise(tb) end
  return err, tb
end

-- Every function in `list`, one after another, stopping at the first error.
local function call_all(list)
  for _, fn in ipairs(list) do
    local err, tb = protect(fn)
    if err ~= nil then return err, tb end
  end
end

-- tostring(v) that never fails: an object whose __tostring raises or returns something
-- other than a string is described instead.
local function safe_tostring(v)
  local ok, text = pcall(tostring, v)
  if ok and type(text) == "string" then return text end
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return ("(%s error value whose __tostring failed: %s)"):format(
    type(name) == "string" and name or type(v), ok and ("returned a " .. type(text)) or safe_tostring(text))
end

-- The error as text; a structured error is prefixed with the user's file:line that
-- raised it (its `where`, else the first user frame of its traceback), as `evalua run`
-- prints it. A string error already carries its position. Rendering never fails.
local function message_of(err, tb)
  if type(err) == "string" then return err end
  if errors.is(err) then
    local at = err.where or errors.first_user_frame(tb or rawget(err, "traceback"))
    if type(at) == "string" and at ~= "" then return at:gsub(":?%s*$", "") .. ": " .. safe_tostring(err) end
  end
  if type(err) == "table" and not getmetatable(err) then
    local ok, text = pcall(diff.show, err)
    if ok and type(text) == "string" then return text end
  end
  local text = safe_tostring(err)
  local at = errors.first_user_frame(tb)
  if at and not text:find(at, 1, true) then text = at .. ": " .. text end
  return text
end

-- The entry fields for an error: outcome "infra" when the outside world failed. The
-- kind is kept, so that a configuration error makes the session exit 2. An infra error
-- keeps its bare message, so that one outage hitting many tests is summed up once.
local function error_fields(err, tb, prefix)
  local infra = errors.is(err) and errors.infra_kinds[err.kind]
  return infra and "infra" or "error", {
    message = (prefix or "") .. (infra and safe_tostring(err) or message_of(err, tb)),
    kind = errors.is(err) and err.kind or nil,
    traceback = errors.user_traceback(tb),
  }
end

-- The empty list that entries share for an empty path, tag list, failures or runs (72
-- bytes each per entry otherwise): never written to; an entry that gets failures or
-- runs gets a list of its own.
local NONE = json.array()

local function copy(list)
  if #list == 0 then return NONE end
  return json.array(table.move(list, 1, #list, 1, {}))
end

-- opts: files, jobs, timeout (seconds, 0 = none), filter, tags (set), repeat_count,
-- pass_rate, retries, fail_on_flaky, bail, shard {k, n}, report (a dispatcher, see
-- evalua.report), version, argv.
function runner.new(opts)
  local self = setmetatable({ opts = opts, report = opts.report, files = {}, jobs = {}, running = {},
                              live_runs = {}, hook_errors = 0 }, Runner)
  self.data = {
    format = session.FORMAT, evalua = opts.version, started_at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    argv = opts.argv and copy(opts.argv), jobs = opts.jobs, repeat_count = opts.repeat_count,
    retries = opts.retries, pass_rate = opts.pass_rate, fail_on_flaky = opts.fail_on_flaky or nil,
    shard = opts.shard and ("%d/%d"):format(opts.shard.k, opts.shard.n) or nil,
    files = json.array(), tests = json.array(),
  }
  return self
end

-- Run `pfn(arg)` (which returns an error or nil, never raises) as `owner`'s body, on the
-- running task itself (a worker, or the session's task for a file's chunk): bound to
-- `owner`, under a deadline of `secs` seconds (0: none) that every wait obeys and code
-- that never waits too, cancelled by `task.cancel(owner.handle)` while it runs. The
-- body owns what it spawns: tasks left running when it ends are cancelled, and the
-- test's output says so. Returns err, traceback.
-- No task of its own per test: a waiting test is one coroutine (its worker's), not two.
local function in_task(owner, secs, pfn, arg)
  local me = task.current()
  local outer = context.bind(me, owner)
  local deadline, prev
  if secs > 0 then
    deadline = task.now() + secs
    prev = sched.deadline(deadline)
  end
  owner.handle = me
  -- pcall: the watchdog may raise the passed deadline anywhere, even on the way out.
  local ok, r, left = pcall(task._in_scope, pfn, arg)
  owner.handle = nil
  local late = deadline and task.now() >= deadline
  if deadline then sched.deadline(prev) end
  -- A cancel that reached the worker as the body ended (while it was ready to run)
  -- waits for its next wait: take it here, or it would cancel what the worker does next.
  pcall(task.sleep, 0)
  context.bind(me, outer)
  local err, tb
  if not ok then err = r                  -- raised on the way out of the scope
  elseif not r[1] then err = r[2]         -- pfn itself failed (cancelled on its way out)
  else err, tb = r[2], r[3] end
  if ok and left > 0 then
    context.add(owner, "output", ("(evalua: %d task%s this left running %s cancelled when it ended)")
      :format(left, left == 1 and "" or "s", left == 1 and "was" or "were"))
  end
  -- A body that caught its own timeout or cancellation (pcall around a wait) and returned
  -- did not pass: it was stopped.
  if err == nil and owner.cancelled then err = errors.new { kind = "cancelled", message = "test cancelled" } end
  if deadline and (errors.is(err, "timeout") and rawget(err, "deadline") == deadline
                   or err == nil and late) then
    return errors.new { kind = "timeout", message = ("timed out after %gs (the test's timeout)"):format(secs) }
  end
  return err, tb
end

-- Load one test file: its chunk runs on the session's task (it may do I/O) with the DSL globals.
function Runner:load_file(index, path)
  local file = { path = path, index = index, output = {}, runs = {}, scope = {},
                 entry = { file = path, full_name = "(loading the file)" } }
  self.files[index] = file
  local env, loaded = dsl.file_env(file)
  local chunk, err = loadfile(path, "t", env)
  local tb
  if chunk then err, tb = in_task(file, self.opts.timeout, protect, chunk) end
  loaded()
  if err ~= nil then
    file.root = nil -- a half-declared file runs nothing
    local outcome, fields = error_fields(err, tb, "cannot load test file: ")
    self:add_entry({ kind = "file", id = path .. "#load", name = "(loading the file)", file = path,
                     file_index = index, seq = 0, outcome = outcome, error = fields })
  end
end

function Runner:add_entry(entry)
  entry.failures = entry.failures or NONE
  entry.runs = entry.runs or NONE
  entry.path = entry.path or NONE
  self.data.tests[#self.data.tests + 1] = entry
  if entry.outcome then self.report:test_end(entry, self.data) end
  return entry
end

-- Turn the plan into entries: one per job, one per threshold gate.
-- Why nothing was selected, when nothing was: a filter, tag or shard that matches no
-- test, or files that declare none, is never a pass (a usage error, exit 2).
function Runner:empty_selection(counts)
  for _, e in ipairs(self.data.tests) do
    if e.kind == "file" then return nil end -- a file that failed to load says why
  end
  local o, files = self.opts, #self.files
  local where = ("%d test%s in %d file%s"):format(counts.declared, counts.declared == 1 and "" or "s",
    files, files == 1 and "" or "s")
  if counts.declared == 0 then return ("no test declared (%s)"):format(where) end
  if counts.selected == 0 then
    local by = {}
    if o.filter then by[#by + 1] = ("--filter '%s'"):format(o.filter) end
    local tags = {}
    for tag in pairs(o.tags or {}) do tags[#tags + 1] = tag end
    table.sort(tags)
    for _, tag in ipairs(tags) do by[#by + 1] = ("--tag '%s'"):format(tag) end
    return ("no test matched %s (%s)"):format(table.concat(by, " or "), where)
  end
  return ("shard %s has no test: %d selected tests, fewer than the %d shards"):format(
    self.data.shard, counts.selected, o.shard.n)
end

function Runner:plan()
  local jobs, gates, counts, rates = plan.build(self.files, self.opts)
  if #jobs == 0 then self.data.usage_error = self:empty_selection(counts) end
  self.data.plan = { tests = counts.jobs, digest = counts.digest }
  for _, job in ipairs(jobs) do
    local spec, path = job.spec, job.spec.block.path
    local suffix = job.rep and (" [%d/%d]"):format(job.rep, job.reps) or ""
    job.entry = self:add_entry({
      kind = "test", id = ("%s#%d"):format(job.file.path, job.seq), file = job.file.path,
      file_index = job.file.index, seq = job.seq, line = spec.line, path = copy(path),
      name = spec.name .. suffix, full_name = plan.full_name(path, spec.name) .. suffix,
      tags = copy(spec.tags), ["repeat"] = job.rep, rate_of = job.rate and job.rate.id,
    })
    self.jobs[#self.jobs + 1] = job
  end
  for _, rate in ipairs(rates) do
    local path = rate.spec.block.path
    self:add_entry({
      kind = "pass_rate", id = rate.id, file = rate.file.path, file_index = rate.file.index, seq = rate.seq,
      line = rate.spec.line, path = copy(path), name = rate.spec.name,
      full_name = plan.full_name(path, rate.spec.name), tags = copy(rate.spec.tags),
      repeats = rate.repeats, pass_rate = rate.pass_rate,
    })
  end
  for i, g in ipairs(gates) do
    g.entry = self:add_entry({
      kind = "threshold", id = ("%s#threshold%d"):format(g.file.path, i), file = g.file.path,
      file_index = g.file.index, seq = THRESHOLD_SEQ + i, line = g.line, path = copy(g.block.path),
      gate = g.gate, scope_total = g.scope_total, name = threshold.title(g.gate),
      selected = (self.opts.filter or self.opts.tags) and true or nil,
    })
    g.entry.full_name = plan.full_name(g.block.path, g.entry.name)
  end
  self.report:planned(self.data)
end

-- Run the before_all hooks of the job's blocks that have not run yet (once per block,
-- whichever test gets there first); returns their error, if any.
function Runner:setup(job)
  for _, b in ipairs(job.blocks) do
    if b.state == "running" then b.ready:wait() end
    if b.state == nil then
      b.state, b.ready = "running", task.event()
      b.error, b.traceback = self:run_hooks(b, "before_all")
      b.state = "done"
      b.ready:set()
    end
    if b.error ~= nil then return b.error, b.traceback end
  end
end

-- A block's hooks run (on the worker that got there) as a body owned by its file, so that
-- their output and runs are kept with the file (and the block's scope, for thresholds).
function Runner:run_hooks(block, name)
  local list = block.hooks[name]
  if #list == 0 then return nil end
  local where = #block.path > 0 and (" (" .. table.concat(block.path, " > ") .. ")") or ""
  block.owner = block.owner or { output = block.file.output, runs = block.file.runs, scope = block.path,
                                 entry = { file = block.file.path, full_name = "before_all/after_all" .. where } }
  return in_task(block.owner, self.opts.timeout, call_all, list)
end

-- After a job: blocks whose last test this was run their after_all hooks.
function Runner:release(job)
  for i = #job.blocks, 1, -1 do
    local b = job.blocks[i]
    b.remaining = b.remaining - 1
    if b.remaining == 0 and b.state == "done" then
      local err, tb = self:run_hooks(b, "after_all")
      if err ~= nil then
        self.hook_errors = self.hook_errors + 1
        local outcome, fields = error_fields(err, tb, "after_all failed: ")
        local where = #b.path > 0 and (" (" .. table.concat(b.path, " > ") .. ")") or ""
        self:add_entry({ kind = "hook", id = ("%s#after_all%d"):format(b.file.path, self.hook_errors),
                         name = "after_all" .. where, full_name = "after_all" .. where, file = b.file.path,
                         file_index = b.file.index, seq = HOOK_SEQ + self.hook_errors, line = b.line,
                         path = copy(b.path), outcome = outcome, error = fields })
      end
    end
  end
end

-- The test proper, a tail call after the before_each hooks (outermost first): each frame
-- below a test's wait is kept, with its stack slots, as long as the test waits.
local function before_and_test(job)
  for _, b in ipairs(job.blocks) do
    for _, fn in ipairs(b.hooks.before_each) do fn() end
  end
  return job.spec.fn()
end

-- The test body: before_each hooks and the test, after_each hooks (innermost first; they
-- run even when the test failed, not when it was cancelled).
local function run_test(job)
  local err, tb = protect(before_and_test, job)
  if errors.is(err, "cancelled") then return err end
  for i = #job.blocks, 1, -1 do
    local e2, tb2 = call_all(job.blocks[i].hooks.after_each)
    if err == nil and e2 ~= nil then err, tb = e2, tb2 end
  end
  return err, tb
end

local function plain_failure(f)
  return { message = f.message, expected = f.expected, actual = f.actual, diff = f.diff,
           file = f.file, line = f.line, matcher = f.matcher, check = f.check }
end

-- Decide a finished job's outcome from what its body raised (nil: nothing).
function Runner:settle(job, err, tb, prefix)
  local e = job.entry
  if expect.is_failure(err) then
    context.add(job, "failures", err)
    err = nil
  end
  if job.failures and e.failures == NONE then e.failures = json.array() end
  for _, f in ipairs(job.failures or NONE) do e.failures[#e.failures + 1] = plain_failure(f) end
  local failed = #e.failures > 0
  if err == nil then
    e.outcome = failed and "failed" or "passed"
  elseif dsl.is_skip(err) then
    e.outcome = failed and "failed" or "skipped"
    e.skip_reason = err.reason
  elseif errors.is(err, "cancelled") and (self.stopping or require("evalua").interrupted) then
    e.outcome, e.skip_reason = "skipped", self.stopping or "interrupted"
  else
    e.outcome, e.error = error_fields(err, tb, prefix)
  end
end

-- Snapshot what a job or file collected into its entry: output lines and runs.
local function collect(owner, target)
  local output, runs = owner.output or NONE, owner.runs or NONE
  if #output > 0 then target.output = table.concat(output, "\n") end
  target.runs = #runs > 0 and json.array() or NONE
  for _, r in ipairs(runs) do
    local run = session.plain(r.run) or {}
    if r.scope and #r.scope > 0 then run.scope = copy(r.scope) end
    target.runs[#target.runs + 1] = run
  end
end

local function block_skip(job)
  if job.spec.skip then return job.spec.skip end
  for _, b in ipairs(job.blocks) do
    if b.skip then return b.skip end
  end
end

-- Outcomes a retry may turn around; a configuration error never does.
local RETRIED = { failed = true, error = true, infra = true }

local function retryable(e)
  return RETRIED[e.outcome] and not (e.error and errors.usage_kinds[e.error.kind])
end

-- What one attempt did, for the entry's `attempts` (a retried test shows each).
local function attempt_record(job, n, secs)
  local e = job.entry
  local rec = { attempt = n, outcome = e.outcome, duration = secs, failures = e.failures, error = e.error }
  collect(job, rec)
  return rec
end

-- Run the test, and again while it did not pass and retries are left (`--retries`,
-- the test's `retries`). Passing on a retry is its own outcome: flaky. Every attempt
-- is kept, so an infra failure is never retried silently.
function Runner:attempts(job)
  local e = job.entry
  local retries = job.spec.retries or self.opts.retries or 0
  local list
  for n = 1, retries + 1 do
    local t0 = task.now()
    local err, tb = in_task(job, job.spec.timeout or self.opts.timeout, run_test, job)
    self:settle(job, err, tb)
    local last = n > retries or not retryable(e) or self.stopping
    if last and n == 1 then return end -- not retried: no attempts to list
    list = list or {}
    list[#list + 1] = attempt_record(job, n, task.now() - t0)
    if last then break end
    job.output, job.failures, job.runs = nil, nil, nil
    e.failures, e.error, e.outcome, e.skip_reason = NONE, nil, nil, nil
  end
  e.attempts, e.retries = json.array(list), retries
  if e.outcome == "passed" then e.outcome = "flaky" end
end

function Runner:run_job(job)
  local e = job.entry
  self.running[job] = true
  self.report:test_start(e, self.data)
  local t0 = task.now()
  local reason = block_skip(job)
  if reason then
    e.outcome, e.skip_reason = "skipped", reason
  else
    local err, tb = self:setup(job)
    if err ~= nil then
      self:settle(job, err, tb, "before_all failed: ")
    else
      self:attempts(job)
    end
  end
  e.duration = task.now() - t0
  self.running[job] = nil
  collect(job, e)
  -- The entry holds plain copies now: the live runs (their service documents) are not
  -- kept for the rest of the session, and once reported its runs are kept as text.
  job.output, job.failures, job.runs = nil, nil, nil
  if not self.finished then self.report:test_end(e, self.data) end
  record.compact(e)
  if self.opts.bail and not e.rate_of and (e.outcome == "failed" or e.outcome == "error" or e.outcome == "infra") then
    self:stop("not run: stopped at the first failure (--bail)")
  end
  self:release(job)
end

-- Stop starting tests and cancel the ones running (unless `opts.keep_running`: they
-- finish); what did not run ends as skipped with `reason`.
function Runner:stop(reason, opts)
  if self.stopping then return end
  self.stopping = reason
  if opts and opts.keep_running then return end
  for job in pairs(self.running) do
    if job.handle then
      job.cancelled = true
      task.cancel(job.handle)
    end
  end
end

-- Up to `jobs` workers take tests in plan order.
function Runner:work()
  local next_job = 1
  local function worker()
    while not self.stopping and self.jobs[next_job] do
      local job = self.jobs[next_job]
      self.jobs[next_job] = nil -- a finished test keeps only its entry
      next_job = next_job + 1
      self:run_job(job)
    end
  end
  local workers = {}
  for i = 1, math.min(self.opts.jobs, #self.jobs) do workers[i] = task.spawn(worker) end
  for _, w in ipairs(workers) do task.wait(w) end
end

-- Judge thresholds, mark what never ran, count outcomes, tell the reporters.
function Runner:finish()
  if self.finished then return self.data end
  self.finished = true
  local data = self.data
  for i, file in ipairs(self.files) do
    data.files[i] = { path = file.path, index = file.index }
    collect(file, data.files[i])
  end
  for _, e in ipairs(data.tests) do
    if (e.kind == "threshold" or e.kind == "pass_rate") and not e.outcome then
      if self.stopping then
        e.outcome, e.skip_reason = "skipped", self.stopping
      else
        (e.kind == "threshold" and threshold or repeats).evaluate(e, data)
      end
      self.report:test_end(e, data)
    elseif not e.outcome then
      e.outcome, e.skip_reason = "skipped", self.stopping or "not run"
    end
  end
  session.sort(data.tests)
  data.duration = task.now() - self.t0
  session.summarize(data)
  self.report:finish(data)
  return data
end

-- Ctrl-C: stop waiting, keep what finished, write the reports now.
function Runner:interrupt()
  self.data.interrupted = true
  for job in pairs(self.running) do collect(job, job.entry) end
  self:stop("interrupted")
  return self:finish()
end

-- Runs this session has started that have not finished yet.
function Runner:unfinished_runs()
  local list = {}
  for run in pairs(self.live_runs) do list[#list + 1] = run end
  return list
end

-- Attribute runs that providers start to the test (or file) whose task started them.
function Runner:listen()
  local function event(name)
    return hooks.on(name, function(run)
      local owner = context.owner()
      if name == "run_started" then
        self.live_runs[run] = true
        if owner then context.add(owner, "runs", { run = run, scope = owner.scope }) end
      elseif name == "run_finished" then
        self.live_runs[run] = nil
      end
      self.report:run_event(name, run, owner and owner.entry)
    end)
  end
  local offs = { event("run_started"), event("run_status"), event("run_finished") }
  return function()
    for _, off in ipairs(offs) do off() end
  end
end

-- A session's old generation only grows (every finished test's record stays until the
-- reports are written): generational, with a major collection once it has grown by 25%
-- (Lua's default 100%), keeps the garbage of finishing runs from piling up on top of it.
-- Measured on 5,000 tests, five reporters: peak RSS -25% (1-2 s runs) to -34% (20-30 s
-- runs) against generational 100%, -15% against boot.lua's incremental 150/200 (20-30 s
-- runs), CPU the same within the noise (tests/bench/RESULTS.md, section 6).
local GC_MINOR, GC_MAJOR = 20, 25

-- Load, plan, run and report; returns the session data.
function Runner:run()
  collectgarbage("generational", GC_MINOR, GC_MAJOR)
  self.t0 = task.now()
  local restore_print = context.capture_print()
  local restore_exit = context.trap_exit()
  local unlisten = self:listen()
  local ok, err = pcall(function()
    self.report:start(self.data)
    for i, path in ipairs(self.opts.files) do self:load_file(i, path) end
    self:plan()
    self:work()
  end)
  restore_print()
  restore_exit()
  unlisten()
  if not ok then
    -- Ctrl-C cancels every task first: the report is written now and says so.
    if task.is_cancelled(err) and require("evalua").interrupted then return self:interrupt() end
    -- Still write what is known, and stop live reporters; every report says it is partial
    -- (what did not run is only "skipped", which alone would read as green).
    self.data.partial = self.data.partial or json.array()
    table.insert(self.data.partial, "the session stopped on an error before every test had run: "
      .. message_of(err):match("^[^\n]*"))
    pcall(self.finish, self)
    error(err, 0)
  end
  return self:finish()
end

return runner
