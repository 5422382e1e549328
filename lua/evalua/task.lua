--- task: concurrent tasks on evalua's scheduler.
-- Handles, joins, timeouts, scopes and semaphores are built here on the C primitives
-- of `evalua.sched`: spawn a coroutine, wait (sleep, join, park on a queue), cancel,
-- and a per-task deadline. Every wait is C's (one per task, withdrawn whatever ends
-- it); a cancellation arrives as an error of kind `cancelled` that this module never
-- swallows: whoever started children cancels them with it.
local sched = require "evalua.sched"
local errors = require "evalua.errors"
local check = require "evalua.check"

local task = {}

local pack, unpack = table.pack, table.unpack

sched.set_error_factory(errors.new)

local Handle = {}
Handle.__index = Handle
Handle.__name = "evalua.task"

function Handle:__tostring()
  local state = self.done and (self.ok and "done" or (errors.is(self.err, "cancelled") and "cancelled" or "failed"))
    or "running"
  return ("task %d (%s)"):format(self.id, state)
end

local handles = setmetatable({}, { __mode = "k" })   -- thread -> handle
local next_id = 0
local unobserved = {}                                -- failed handles nobody waited on

local function current_handle()
  local co = sched.current()
  return co and handles[co]
end

local function is_cancel(err) return errors.is(err, "cancelled") end
task.is_cancelled = is_cancel

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
    -- A task that was cancelled did what it was asked to; anything else is a failure
    -- somebody should hear about.
    if not h.observed and not is_cancel(h.err) then unobserved[h] = true end
  end
  if h.scope then h.scope.members[h] = nil end
  h.co = nil
end

local cancel_and_reap, format_seconds
local REAP_SECONDS = 5      -- for cancelled tasks' cleanups (a run's cancel request)

-- A task owns the tasks it spawns (its `own` scope, made when it first spawns one):
-- those still running when its function ends are cancelled and waited for.
-- The end of a scope: its members still running are cancelled and reaped (in spawn
-- order). `r` is how the scope's function ended; returns that, or the reaping's failure
-- (a cancellation while reaping wins: it must not be lost), and how many were left.
local function close_scope(scope, r)
  local left = {}
  for m in pairs(scope.members) do left[#left + 1] = m end
  if #left == 0 then return r, 0 end
  table.sort(left, function(a, b) return a.id < b.id end)
  local ok, err = pcall(cancel_and_reap, left)
  if not ok and (r[1] or is_cancel(err)) then r = pack(false, err) end
  return r, #left
end

local function reap_own(h, r)
  local own = h.own
  if not own or own.keep then return r end
  return (close_scope(own, r))
end

-- A task cancelled before it started still starts: its first wait raises the
-- cancellation (before anything is sent), so its `<close>` handlers run as usual.
local function body(h, fn, ...)
  finish(h, reap_own(h, pack(xpcall(fn, on_error, ...))))
end

local function check_callable(fn, argn, fname)
  local t = type(fn)
  if t == "function" then return end
  local mt = getmetatable(fn)
  if mt and mt.__call then return end
  errors.argerror(argn, fname, "function expected, got " .. (t == "nil" and "no value" or t))
end

-- The scope new tasks of the running task join: its innermost open one, or the one it
-- was spawned into (so a test owns its tasks' tasks too).
local function current_scope()
  local me = current_handle()
  if not me then return nil end
  local stack = me.scopes
  if stack and stack[#stack] then return stack[#stack] end
  local own = me.own
  if not own then
    own = { members = {} }
    me.own = own
  end
  return own
end

local function new_task(scope, fn, ...)
  next_id = next_id + 1
  -- Four fields (co comes next) fit the table's four slots; `done` is set when it ends.
  local h = setmetatable({ id = next_id, parent = current_handle(), scope = scope }, Handle)
  h.co = sched.spawn(body, h, fn, ...)
  handles[h.co] = h
  if scope then scope.members[h] = true end
  return h
end

--- task.spawn(fn, ...) -> handle; owned by the running task (or its innermost task.scope or
-- task.timeout): cancelled if still running when that ends
function task.spawn(fn, ...)
  check_callable(fn, 1, "spawn")
  return new_task(current_scope(), fn, ...)
end

--- task.detached(fn, ...) -> handle of a task no scope owns: work shared by many tasks
-- (a token fetch, a single-flight request) that must not end with whoever started it.
function task.detached(fn, ...)
  check_callable(fn, 1, "detached")
  return new_task(nil, fn, ...)
end

local function check_handle(h, argn, fname)
  if getmetatable(h) ~= Handle then
    errors.argerror(argn, fname, "task handle expected, got " .. type(h))
  end
end

-- An error from code that ran only evalua's frames (a token fetch's task, a spare stack)
-- or ended in a tail call has no line of the user's: blame the line that waited for it.
local function blame_caller(err)
  if errors.is(err) and not rawget(err, "where") and not errors.first_user_frame(rawget(err, "traceback")) then
    local where = errors.where():gsub(":%s*$", "")
    if where ~= "" then rawset(err, "where", where) end
  end
end

local function outcome(h)
  h.observed = true
  unobserved[h] = nil
  if h.ok then return unpack(h.results, 1, h.results.n) end
  local err = h.err
  blame_caller(err)
  local tb = type(err) == "string" and errors.user_traceback(h.traceback)
  if tb then err = err .. "\n(in task " .. h.id .. ") " .. tb end
  error(err, 0)
end

local function join(h, timeout, fname)
  if h.co == nil then return true end
  if h.co == sched.current() then error(("task.%s: a task cannot wait for itself"):format(fname), 3) end
  return sched.join(h.co, timeout)
end

--- task.wait(handle [, timeout]) -> the task's results, or its error raised again;
-- with a timeout: nil, "timeout" when it did not end in time (it keeps running)
function task.wait(h, timeout)
  check_handle(h, 1, "wait")
  if timeout ~= nil then timeout = check.duration(timeout, 2, "wait") end
  if not join(h, timeout, "wait") then return nil, "timeout" end
  return outcome(h)
end

--- task.cancel(handle) -> true if the task was still running. It takes effect at once:
-- a waiting task is woken with a `cancelled` error, a ready one gets it next.
function task.cancel(h)
  check_handle(h, 1, "cancel")
  if h.done then return false end
  if h.co == sched.current() then
    errors.raise({ kind = "cancelled", message = "task cancelled" }, 2)
  end
  return sched.cancel(h.co)
end

-- Cancel the given tasks and wait until each has ended (their cleanups ran). The
-- waiting itself cannot be cancelled half-way, nor cut by the deadline that may be what
-- ended the caller: it has REAP_SECONDS of its own. A cancellation that arrived
-- meanwhile is raised once every task is gone; if the cleanups outlast their time, a
-- `timeout` error says so (the stragglers stay cancelled).
function cancel_and_reap(list)
  for _, h in ipairs(list) do
    if not h.done then sched.cancel(h.co) end
  end
  local prev = sched.deadline(sched.now() + REAP_SECONDS)
  local again, late
  for _, h in ipairs(list) do
    while not h.done and not late do
      local ok, err = pcall(sched.join, h.co)
      if not ok then
        if is_cancel(err) then again = again or err
        else late = err end
      end
    end
  end
  sched.deadline(prev)
  if again then error(again, 0) end
  if late then
    errors.raise({ kind = "timeout", message = ("cancelled tasks did not end within %s of their cancel")
      :format(format_seconds(REAP_SECONDS)) }, 2)
  end
end

--- task.all(list) -> array of each task's first result. When one fails (or the waiter
-- is cancelled), the others are cancelled at once and the first error is raised.
function task.all(list)
  if type(list) ~= "table" then
    errors.argerror(1, "all", "table expected, got " .. type(list))
  end
  local hs = {}
  for i, item in ipairs(list) do
    if type(item) == "function" then hs[i] = task.spawn(item)
    else check_handle(item, 1, "all"); hs[i] = item end
  end
  local results = {}
  for i, h in ipairs(hs) do
    local ok, v = pcall(task.wait, h)
    if not ok then
      cancel_and_reap(hs)
      for _, other in ipairs(hs) do other.observed = true; unobserved[other] = nil end
      error(v, 0)
    end
    results[i] = v
  end
  return results
end

--- task.sleep(duration)
function task.sleep(d)
  sched.sleep(check.duration(d, 1, "sleep"))
end

task.now = sched.now

--- task.current() -> handle of the running task (nil outside tasks)
function task.current()
  return current_handle()
end

---------------------------------------------------------------------------
-- Scopes and deadlines


function format_seconds(s)
  if s >= 1 and s == math.floor(s) then return ("%ds"):format(s) end
  return ("%gs"):format(s)
end
task.format_seconds = format_seconds

-- Run fn(...) in the running task with tasks it spawns owned by a new scope; when fn
-- ends, however it ends, the scope's leftover tasks are cancelled and reaped.
-- Returns pack(ok, ...) and the number of leftovers; a failure's value may be Wrapped
-- (raise it again as it is inside a task body, or unwrap it for a caller).
local function in_scope(fn, ...)
  local me = current_handle()
  if not me then error("task scopes need a task", 3) end
  local scope = { members = {} }
  me.scopes = me.scopes or {}
  local depth = #me.scopes + 1
  me.scopes[depth] = scope
  local r = pack(xpcall(fn, on_error, ...))   -- a string error keeps its traceback (Wrapped)
  me.scopes[depth] = nil
  return close_scope(scope, r)
end

--- task.scope(fn, ...) -> fn's results. Tasks fn spawns (and theirs) are cancelled when
-- fn ends; `task.scope_leftovers()` tells how many there were.
local last_leftovers = 0
local function unwrap(e)
  if getmetatable(e) == Wrapped then return e.value end
  return e
end

function task.scope(fn, ...)
  check_callable(fn, 1, "scope")
  local r, left = in_scope(fn, ...)
  last_leftovers = left
  if not r[1] then error(unwrap(r[2]), 0) end
  return unpack(r, 2, r.n)
end
function task.scope_leftovers() return last_leftovers end

-- Run fn(...) with the running task's deadline at most `secs` from now. Returns
-- pack(ok, ...) and whether a failure was this deadline passing.
local function with_deadline(secs, fn, ...)
  local mine = sched.now() + secs
  local prev = sched.deadline()
  if prev and prev < mine then mine = prev end
  sched.deadline(mine)
  local r = pack(pcall(fn, ...))
  sched.deadline(prev)
  local expired = not r[1] and errors.is(r[2], "timeout") and rawget(r[2], "deadline") == mine
    and (prev == nil or mine < prev)
  return r, expired
end
task._with_deadline = with_deadline

--- task.timeout(duration, fn, ...) -> fn's results; a `timeout` error when too slow.
-- fn runs in the calling task under a deadline that every wait (and code that never
-- waits) obeys; tasks it spawned are cancelled when it ends.
function task.timeout(d, fn, ...)
  local secs = check.duration(d, 1, "timeout")
  check_callable(fn, 2, "timeout")
  local args = pack(...)
  local r, expired = with_deadline(secs, function()
    local inner = in_scope(fn, unpack(args, 1, args.n))
    if not inner[1] then error(inner[2], 0) end
    return unpack(inner, 2, inner.n)
  end)
  if expired then
    errors.raise({ kind = "timeout", message = "timed out after " .. format_seconds(secs) }, 2)
  end
  if not r[1] then error(unwrap(r[2]), 0) end
  return unpack(r, 2, r.n)
end

---------------------------------------------------------------------------
-- Spare stacks

-- Work that runs deep (a poll: the provider, the request's options and auth, the
-- transfer) runs on a spare coroutine lent to the running task for the call. A task that
-- mostly sleeps then keeps only the shallow stack of its wait: Lua never shrinks a stack
-- below twice what is in use when the collector looks, so ten thousand waiting runs each
-- kept the deepest stack their polls had reached. A spare is the task's own code as far
-- as the scheduler is concerned (sched.resume forwards its waits, its deadline and
-- cancellation are the task's); one that fails is dropped, at most SPARES_MAX are kept.
local spares, nspares, SPARES_MAX = {}, 0, 64
local spare_resume, yield = sched.resume, coroutine.yield

-- A spare's body: call, hand back the results, wait for the next call (a tail call each
-- time, so the loop does not grow the stack).
local function serve(fn, ...)
  return serve(yield(fn(...)))
end

local function returned(co, ok, ...)
  if not ok then
    coroutine.close(co)
    local err = ...
    blame_caller(err)
    error(err, 0)
  end
  if nspares < SPARES_MAX then
    nspares = nspares + 1
    spares[nspares] = co
  end
  return ...
end

--- task._on_spare(fn, ...) -> fn(...)'s results, fn run in the calling task on a spare stack
function task._on_spare(fn, ...)
  local co = spares[nspares]
  if co then
    spares[nspares], nspares = nil, nspares - 1
  else
    co = coroutine.create(serve)
  end
  return returned(co, spare_resume(co, fn, ...))
end

---------------------------------------------------------------------------
-- Semaphores and events: waits on a C queue, withdrawn on cancellation.

local Semaphore = {}
Semaphore.__index = Semaphore
Semaphore.__name = "evalua.semaphore"

--- task.semaphore(n) -> a semaphore with n permits
function task.semaphore(n)
  n = check.count(n == nil and 1 or n, 1, "semaphore", "permits", 0)
  return setmetatable({ count = n, queue = sched.queue(), handed = {}, waiting = 0 }, Semaphore)
end

--- sem:acquire([timeout]) -> true, or false when the timeout passed first
function Semaphore:acquire(timeout)
  if getmetatable(self) ~= Semaphore then errors.argerror(1, "acquire", "semaphore expected") end
  if timeout ~= nil then timeout = check.duration(timeout, 1, "acquire") end
  if self.count > 0 and self.waiting == 0 then
    self.count = self.count - 1
    return true
  end
  local me = sched.current()
  self.waiting = self.waiting + 1
  local ok, got = pcall(sched.park, self.queue, timeout)
  self.waiting = self.waiting - 1
  local handed = self.handed[me]
  self.handed[me] = nil
  if not ok then
    if handed then self:release() end  -- a permit given to a task that is leaving
    error(got, 0)
  end
  return handed == true
end

--- sem:release()
function Semaphore:release()
  local woken = sched.unpark(self.queue, 1)
  if woken then self.handed[woken] = true
  else self.count = self.count + 1 end
end

local Event = {}
Event.__index = Event
Event.__name = "evalua.event"

--- task.event() -> an event tasks wait on until it is set
function task.event()
  return setmetatable({ set_ = false, queue = sched.queue() }, Event)
end

--- ev:wait([timeout]) -> true once set, false when the timeout passed first
function Event:wait(timeout)
  if timeout ~= nil then timeout = check.duration(timeout, 1, "wait") end
  if self.set_ then return true end
  sched.park(self.queue, timeout)
  return self.set_
end

--- ev:set(): wakes every waiter; later waits return at once
function Event:set()
  self.set_ = true
  sched.unpark(self.queue, 0)
end

function Event:is_set() return self.set_ end

---------------------------------------------------------------------------

--- Failed tasks whose error was never collected (reported at exit).
function task._unobserved()
  local list = {}
  for h in pairs(unobserved) do list[#list + 1] = h end
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

--- A task whose children live on after it (the REPL's lines: what a line spawns keeps
-- running for the next one).
function task._keeper(fn, ...)
  local h = new_task(nil, fn, ...)
  h.own = { members = {}, keep = true }
  return h
end

task._in_scope = in_scope
task.Handle = Handle
task.Semaphore = Semaphore
task.Event = Event
return task
