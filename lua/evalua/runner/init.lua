-- The `evalua test` engine: loads test files, runs their tests as tasks (at most
-- `jobs` at once), keeps the four outcomes apart (passed, failed, error, infra) and
-- builds the session data that reporters and the exit code are made from.
local errors = require "evalua.errors"
local hooks = require "evalua.hooks"
local json = require "evalua.json"
local task = require "evalua.task"
local context = require "evalua.runner.context"
local diff = require "evalua.runner.diff"
local dsl = require "evalua.runner.dsl"
local expect = require "evalua.runner.expect"
local plan = require "evalua.runner.plan"
local session = require "evalua.runner.session"
local threshold = require "evalua.runner.threshold"

local runner = {}

local Runner = {}
Runner.__index = Runner

local SETUP_POLL = 0.01        -- seconds between looks while another test runs a before_all
local THRESHOLD_SEQ = 1000000  -- thresholds and hook errors sort after a file's tests
local HOOK_SEQ = 2000000

-- Run fn(...); return nil, or the value it raised and the traceback where it was raised.
local function protect(fn, ...)
  local tb
  local ok, err = xpcall(fn, function(e)
    if not (expect.is_failure(e) or dsl.is_skip(e)) then tb = debug.traceback(nil, 2) end
    return e
  end, ...)
  if ok then return nil end
  return err, tb
end

-- Every function in `list`, one after another, stopping at the first error.
local function call_all(list)
  for _, fn in ipairs(list) do
    local err, tb = protect(fn)
    if err ~= nil then return err, tb end
  end
end

local function message_of(err)
  if type(err) == "string" then return err end
  if type(err) == "table" and not getmetatable(err) then return diff.show(err) end
  return tostring(err)
end

-- The entry fields for an error: outcome "infra" when the outside world failed.
local function error_fields(err, tb, prefix)
  local infra = errors.is(err) and errors.infra_kinds[err.kind]
  return infra and "infra" or "error", {
    message = (prefix or "") .. message_of(err),
    kind = errors.is(err) and err.kind or nil,
    traceback = tb,
  }
end

local function copy(list)
  return json.array(table.move(list, 1, #list, 1, {}))
end

-- opts: files, jobs, timeout (seconds, 0 = none), filter, tags (set), repeat_count,
-- bail, shard {k, n}, report (a dispatcher, see evalua.report), version, argv.
function runner.new(opts)
  local self = setmetatable({ opts = opts, report = opts.report, files = {}, jobs = {}, running = {},
                              live_runs = {}, hook_errors = 0 }, Runner)
  self.data = {
    format = session.FORMAT, evalua = opts.version, started_at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    argv = opts.argv and copy(opts.argv), jobs = opts.jobs, repeat_count = opts.repeat_count,
    shard = opts.shard and ("%d/%d"):format(opts.shard.k, opts.shard.n) or nil,
    files = json.array(), tests = json.array(),
  }
  return self
end

-- Run `pfn(...)` (which returns an error or nil, never raises) in a task bound to
-- `owner`; cancel it after `secs` seconds (0: no limit). Returns err, traceback.
function Runner:in_task(owner, secs, pfn, ...)
  local h = task.spawn(pfn, ...)
  context.bind(h, owner)
  owner.handle = h
  local timed_out = false
  local watchdog = secs > 0 and task.spawn(function()
    if pcall(task.sleep, secs) then
      timed_out = true
      task.cancel(h)
    end
  end)
  local ok, err, tb = pcall(task.wait, h)
  if watchdog then task.cancel(watchdog) end
  owner.handle = nil
  if timed_out then
    return errors.new { kind = "timeout", message = ("timed out after %gs (the test's timeout)"):format(secs) }
  end
  if not ok then return err end -- cancelled before it started
  return err, tb
end

-- Load one test file: its chunk runs in a task (it may do I/O) with the DSL globals.
function Runner:load_file(index, path)
  local file = { path = path, index = index, output = {}, runs = {}, scope = {} }
  self.files[index] = file
  local env, loaded = dsl.file_env(file)
  local chunk, err = loadfile(path, "t", env)
  local tb
  if chunk then err, tb = self:in_task(file, self.opts.timeout, protect, chunk) end
  loaded()
  if err ~= nil then
    file.root = nil -- a half-declared file runs nothing
    local outcome, fields = error_fields(err, tb, "cannot load test file: ")
    self:add_entry({ kind = "file", id = path .. "#load", name = "(load " .. path .. ")", file = path,
                     file_index = index, seq = 0, outcome = outcome, error = fields })
  end
end

function Runner:add_entry(entry)
  entry.failures = entry.failures or json.array()
  entry.runs = entry.runs or json.array()
  entry.path = entry.path or json.array()
  self.data.tests[#self.data.tests + 1] = entry
  if entry.outcome then self.report:test_end(entry, self.data) end
  return entry
end

-- Turn the plan into entries: one per job, one per threshold gate.
function Runner:plan()
  local jobs, gates = plan.build(self.files, self.opts)
  for _, job in ipairs(jobs) do
    local spec, path = job.spec, job.spec.block.path
    job.output, job.failures, job.runs = {}, {}, {}
    job.entry = self:add_entry({
      kind = "test", id = ("%s#%d"):format(job.file.path, job.seq), file = job.file.path,
      file_index = job.file.index, seq = job.seq, line = spec.line, path = copy(path),
      name = spec.name .. (job.rep and (" [%d/%d]"):format(job.rep, self.opts.repeat_count) or ""),
      full_name = plan.full_name(path, spec.name), tags = copy(spec.tags), ["repeat"] = job.rep,
    })
    job.entry.full_name = job.entry.full_name .. (job.rep and (" [%d/%d]"):format(job.rep, self.opts.repeat_count) or "")
    self.jobs[#self.jobs + 1] = job
  end
  for i, g in ipairs(gates) do
    g.entry = self:add_entry({
      kind = "threshold", id = ("%s#threshold%d"):format(g.file.path, i), file = g.file.path,
      file_index = g.file.index, seq = THRESHOLD_SEQ + i, line = g.line, path = copy(g.block.path),
      gate = g.gate, scope_total = g.scope_total, name = threshold.title(g.gate),
    })
    g.entry.full_name = plan.full_name(g.block.path, g.entry.name)
  end
  self.report:planned(self.data)
end

-- Run the before_all hooks of the job's blocks that have not run yet (once per block,
-- whichever test gets there first); returns their error, if any.
function Runner:setup(job)
  for _, b in ipairs(job.blocks) do
    while b.state == "running" do task.sleep(SETUP_POLL) end
    if b.state == nil then
      b.state = "running"
      b.error, b.traceback = self:run_hooks(b, "before_all")
      b.state = "done"
    end
    if b.error ~= nil then return b.error, b.traceback end
  end
end

-- A block's hooks run in a task owned by its file, so that their output and runs are
-- kept with the file (and the block's scope, for thresholds).
function Runner:run_hooks(block, name)
  local list = block.hooks[name]
  if #list == 0 then return nil end
  block.owner = block.owner or { output = block.file.output, runs = block.file.runs, scope = block.path }
  return self:in_task(block.owner, self.opts.timeout, call_all, list)
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

-- The test body: before_each hooks (outermost first), the test, after_each hooks
-- (innermost first; they run even when the test failed, not when it was cancelled).
local function run_test(job)
  local err, tb = protect(function()
    for _, b in ipairs(job.blocks) do call_all_or_raise(b.hooks.before_each) end
    job.spec.fn()
  end)
  if errors.is(err, "cancelled") then return err end
  for i = #job.blocks, 1, -1 do
    local e2, tb2 = call_all(job.blocks[i].hooks.after_each)
    if err == nil and e2 ~= nil then err, tb = e2, tb2 end
  end
  return err, tb
end

function call_all_or_raise(list)
  local err = call_all(list)
  if err ~= nil then error(err, 0) end
end
