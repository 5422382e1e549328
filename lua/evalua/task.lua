--- task: concurrent tasks on evalua's scheduler.
-- Handles, joins, timeouts and cancellation are built here on the C primitives of
-- `evalua.core` (spawn a coroutine, suspend it, wake it, arm its timer).
local core = require "evalua.core"
local errors = require "evalua.errors"
local check = require "evalua.check"

local task = {}

local pack, unpack = table.pack, table.unpack
local CANCEL = {}                          -- resume value meaning "you were cancelled"

local Handle = {}
Handle.__index = Handle
Handle.__name = "evalua.task"

function Handle:__tostring()
  return ("task %d (%s)"):format(self.id, self.done and (self.ok and "done" or "failed") or "running")
end

local handles = setmetatable({}, { __mode = "k" })   -- thread -> handle
local next_id = 0
local unobserved = {}                                -- failed handles nobody waited on

local function current_handle()
  local co = core.current()
  return co and handles[co]
end

-- Suspend the current task until something wakes it; a cancellation raises here.
local function block()
  local h = current_handle()
  if h and h.cancel_requested then
    h.cancel_requested = false
    errors.raise({ kind = "cancelled", message = "task cancelled" }, 3)
  end
  local r = pack(core.suspend())
  if r[1] == CANCEL then
    if h then h.cancel_requested = false end
    errors.raise({ kind = "cancelled", message = "task cancelled" }, 3)
  end
  return unpack(r, 1, r.n)
end
task._block = block

-- A non-table error travels with its traceback in one of these.
local Wrapped = {}

-- Keep the traceback of the failing task: once the coroutine is gone it is lost.
local function on_error(err)
  local tb = debug.traceback("", 2):gsub("^\n", "")
  if type(err) == "table" then
    if rawget(err, "traceback") == nil then rawset(err, "traceback", tb) end
    return err
  end
  return setmetatable({ value = err, traceback = tb }, Wrapped)
end

local function finish(h, r)
  h.done = true
  h.ok = r[1]
  if r[1] then
    h.results = pack(unpack(r, 2, r.n))
  else
    local e = r[2]
    if getmetatable(e) == Wrapped then
      h.err, h.traceback = e.value, e.traceback
    else
      h.err, h.traceback = e, type(e) == "table" and rawget(e, "traceback") or nil
    end
    if not h.observed then unobserved[h] = true end
  end
  h.co = nil
  local waiters = h.waiters
  h.waiters = nil
  if waiters then
    for _, co in ipairs(waiters) do core.wake(co) end
  end
end

local function body(h, fn, ...)
  if h.cancel_requested then
    finish(h, { false, errors.new { kind = "cancelled", message = "task cancelled" }, n = 2 })
    return
  end
  finish(h, pack(xpcall(fn, on_error, ...)))
end

local function check_callable(fn, argn, fname)
  local t = type(fn)
  if t == "function" then return end
  local mt = getmetatable(fn)
  if mt and mt.__call then return end
  errors.argerror(argn, fname, "function expected, got " .. (t == "nil" and "no value" or t))
end

--- task.spawn(fn, ...) -> handle
function task.spawn(fn, ...)
  check_callable(fn, 1, "spawn")
  next_id = next_id + 1
  local h = setmetatable({ id = next_id, parent = current_handle(), done = false }, Handle)
  h.co = core.spawn(body, h, fn, ...)
  handles[h.co] = h
  return h
end

local function check_handle(h, argn, fname)
  if getmetatable(h) ~= Handle then
    errors.argerror(argn, fname, "task handle expected, got " .. type(h))
  end
end

local function join(h, deadline)
  local me = core.current()
  if not me then error("task.wait: waiting is only possible inside a task", 3) end
  if h.co == me then error("task.wait: a task cannot wait for itself", 3) end
  while not h.done do
    h.waiters = h.waiters or {}
    table.insert(h.waiters, me)
    if deadline then core.timer(math.max(0, deadline - core.now())) end
    block()
    if not h.done and deadline and core.now() >= deadline then
      for i, co in ipairs(h.waiters or {}) do
        if co == me then table.remove(h.waiters, i) break end
      end
      return false
    end
  end
  if deadline then core.cancel_wait(me) end
  return true
end

local function outcome(h)
  h.observed = true
  unobserved[h] = nil
  if h.ok then return unpack(h.results, 1, h.results.n) end
  local err = h.err
  -- An error from a task that ran only evalua's code (a token fetch) or ended in a tail
  -- call has no line of the user's: blame the line that waited for it.
  if errors.is(err) and not rawget(err, "where") and not errors.first_user_frame(rawget(err, "traceback")) then
    local where = errors.where():gsub(":%s*$", "")
    if where ~= "" then rawset(err, "where", where) end
  end
  local tb = type(err) == "string" and errors.user_traceback(h.traceback)
  if tb then err = err .. "\n(in task " .. h.id .. ") " .. tb end
  error(err, 0)
end

--- task.wait(handle) -> the task's results, or its error raised again
function task.wait(h)
  check_handle(h, 1, "wait")
  join(h)
  return outcome(h)
end

--- task.all(list) -> array of each task's first result
function task.all(list)
  if type(list) ~= "table" then
    errors.argerror(1, "all", "table expected, got " .. type(list))
  end
  local hs = {}
  for i, item in ipairs(list) do
    if type(item) == "function" then hs[i] = task.spawn(item)
    else check_handle(item, 1, "all"); hs[i] = item end
  end
  local results, first_err = {}, nil
  for i, h in ipairs(hs) do
    local ok, v = pcall(task.wait, h)
    if ok then results[i] = v elseif first_err == nil then first_err = v end
  end
  if first_err ~= nil then error(first_err, 0) end
  return results
end

--- task.sleep(duration)
function task.sleep(d)
  core.timer(check.duration(d, 1, "sleep"))
  block()
end

task.now = core.now

--- task.current() -> handle of the running task (nil outside tasks)
function task.current()
  return current_handle()
end

--- task.cancel(handle) -> true if the task was still running
function task.cancel(h)
  check_handle(h, 1, "cancel")
  if h.done then return false end
  if h.co == core.current() then
    errors.raise({ kind = "cancelled", message = "task cancelled" }, 2)
  end
  core.cancel_wait(h.co)
  if not core.wake(h.co, CANCEL) then h.cancel_requested = true end
  return true
end

local function format_seconds(s)
  if s >= 1 and s == math.floor(s) then return ("%ds"):format(s) end
  return ("%gs"):format(s)
end

--- task.timeout(duration, fn, ...) -> fn's results; a `timeout` error when too slow
function task.timeout(d, fn, ...)
  local secs = check.duration(d, 1, "timeout")
  check_callable(fn, 2, "timeout")
  local h = task.spawn(fn, ...)
  local ok, finished = pcall(join, h, core.now() + secs)
  if not ok then
    -- The waiting task was itself cancelled: the work it waited for goes too.
    h.observed = true
    task.cancel(h)
    error(finished, 0)
  end
  if not finished then
    h.observed = true                   -- its cancellation is reported as this timeout
    task.cancel(h)
    errors.raise({ kind = "timeout", message = "timed out after " .. format_seconds(secs) }, 2)
  end
  return outcome(h)
end

--- Failed tasks whose error was never collected (reported at exit).
function task._unobserved()
  local list = {}
  for h in pairs(unobserved) do list[#list + 1] = h end
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

task.Handle = Handle
return task
