-- Test double for the C host, used only by the runner and report tests: a pure-Lua
-- `evalua.sched` scheduler on a virtual clock (sleeps cost no real time), so the real
-- lua/evalua/task.lua runs on it, plus stand-ins for evalua.json, evalua.fs,
-- evalua.readline and the `evalua` global. Under bin/evalua nothing is replaced and
-- host.run(fn) simply calls fn inside the current task.
local host = {}

local real = package.preload["evalua.sched"] ~= nil or package.loaded["evalua.sched"] ~= nil
host.real = real

local cjson = require "cjson"

local function parse_duration(d)
  if type(d) == "number" then
    assert(d >= 0, "duration must be a non-negative number")
    return d
  end
  if type(d) ~= "string" then error("bad argument #1 (duration (number or string) expected)", 2) end
  local total, rest = 0, d
  if tonumber(rest) then return tonumber(rest) end
  local units = { ms = 0.001, s = 1, m = 60, h = 3600 }
  while rest ~= "" do
    local n, u, tail = rest:match("^(%d+%.?%d*)(%a+)(.*)$")
    if not n or not units[u] then error(("invalid duration '%s'"):format(d), 2) end
    total, rest = total + tonumber(n) * units[u], tail
  end
  return total
end

local function install_core()
  -- The C scheduler's primitives (core/sched.c) on coroutines and a virtual clock:
  -- one wait per task, withdrawn by whatever ends it (event, timeout, deadline, cancel).
  local core, tasks, ready = {}, {}, {}
  local clock, current = 0, nil
  local MARKER = {}
  local factory = function(fields) return fields end
  local huge = math.huge

  local function enqueue(rec)
    rec.state = "ready"
    ready[#ready + 1] = rec
  end

  local function unlink(rec)
    local q = rec.queue
    if q then
      for i, other in ipairs(q) do if other == rec then table.remove(q, i) break end end
      rec.queue = nil
    end
  end

  local function wake(rec, reason)
    if not rec or rec.state ~= "suspended" or not rec.wait then return end
    unlink(rec)
    rec.wait, rec.wake_at, rec.reason = nil, nil, reason
    enqueue(rec)
  end

  local function raise(fields) error(factory(fields), 0) end

  local function check_wait()
    local rec = current
    if not rec then error("evalua: waiting is only possible inside a task", 3) end
    if rec.pending then
      rec.pending = false
      raise { kind = "cancelled", message = "task cancelled" }
    end
    if rec.deadline <= clock then raise { kind = "timeout", message = "deadline exceeded", deadline = rec.deadline } end
    return rec
  end

  local function wait(rec, what, secs, queue)
    rec.wait, rec.wake_at = what, secs and clock + secs or huge
    if queue then queue[#queue + 1] = rec; rec.queue = queue end
    coroutine.yield(MARKER)
    local reason = rec.reason
    rec.reason = nil
    if reason == "cancel" or rec.pending then
      rec.pending = false
      raise { kind = "cancelled", message = "task cancelled" }
    end
    if reason == "deadline" then raise { kind = "timeout", message = "deadline exceeded", deadline = rec.deadline } end
    return reason == "event"
  end

  function core.set_error_factory(fn) factory = fn end
  function core.spawn(fn, ...)
    local co = coroutine.create(fn)
    local rec = { co = co, args = table.pack(...), deadline = huge, joiners = {} }
    tasks[co] = rec
    enqueue(rec)
    return co
  end
  function core.sleep(d) wait(check_wait(), "sleep", d) end
  function core.join(co, secs)
    local rec = check_wait()
    local target = tasks[co]
    if not target then return true end
    return wait(rec, "join", secs, target.joiners)
  end
  function core.queue() return {} end
  function core.park(q, secs) return wait(check_wait(), "park", secs, q) end
  function core.unpark(q, n)
    local woken = {}
    while q[1] and (not n or n <= 0 or #woken < n) do
      local rec = q[1]
      woken[#woken + 1] = rec.co
      wake(rec, "event")
    end
    return table.unpack(woken)
  end
  function core.cancel(co)
    local rec = tasks[co]
    if not rec then return false end
    if rec.state == "suspended" and rec.wait then wake(rec, "cancel") else rec.pending = true end
    return true
  end
  function core.deadline(when)
    local prev = current.deadline
    current.deadline = when or huge
    if prev == huge then return nil end
    return prev
  end
  function core.resume(co, ...)
    local function forward(ok, ...)
      if ok and select("#", ...) > 0 and (...) == MARKER and coroutine.status(co) == "suspended" then
        return forward(coroutine.resume(co, coroutine.yield(MARKER)))
      end
      return ok, ...
    end
    return forward(coroutine.resume(co, ...))
  end
  function core.current() return current and current.co end
  function core.now() return clock end
  function core.stats()
    local n = 0
    for _ in pairs(tasks) do n = n + 1 end
    return { tasks = n, timers = 0, requests = 0 }
  end
  -- evalua.duration: the raising and the non-raising parser.
  local duration = { seconds = parse_duration }
  function duration.parse(d)
    local ok, v = pcall(parse_duration, d)
    if ok then return v end
    return nil, (tostring(v):gsub("^.-:%d+: ", ""))
  end
  package.loaded["evalua.duration"] = duration

  local function resume(rec)
    if rec.pending and rec.started then
      -- cancelled while ready: the error comes at its next instruction
      debug.sethook(rec.co, function()
        debug.sethook(rec.co)
        if rec.pending then
          rec.pending = false
          raise { kind = "cancelled", message = "task cancelled" }
        end
      end, "", 1)
    end
    rec.started = true
    current, rec.state = rec, "running"
    local ok, r = coroutine.resume(rec.co, table.unpack(rec.args, 1, rec.args.n))
    current, rec.args = nil, { n = 0 }
    if coroutine.status(rec.co) == "dead" then
      tasks[rec.co] = nil
      if not ok then io.stderr:write("host: internal error in a task: ", tostring(r), "\n") end
      while rec.joiners[1] do wake(rec.joiners[1], "event") end
    elseif r == MARKER and rec.wait then
      rec.state = "suspended"
    else
      enqueue(rec)
    end
  end

  local function when(rec)
    return math.min(rec.wake_at or huge, rec.deadline)
  end

  -- Run until `target` finished (or every task), or the clock reaches `stop_at`.
  function core.run(target, stop_at)
    while true do
      local batch = ready
      ready = {}
      for _, rec in ipairs(batch) do resume(rec) end
      if target and not tasks[target] or not target and next(tasks) == nil then return "done" end
      if stop_at and clock >= stop_at then return "time" end
      if #ready == 0 then
        local soonest
        for _, rec in pairs(tasks) do
          if rec.state == "suspended" and rec.wait and when(rec) < huge and (not soonest or when(rec) < soonest) then
            soonest = when(rec)
          end
        end
        if not soonest then return "stuck" end
        clock = math.max(clock, stop_at and math.min(soonest, stop_at) or soonest)
        for _, rec in pairs(tasks) do
          if rec.state == "suspended" and rec.wait and when(rec) <= clock then
            wake(rec, rec.deadline <= (rec.wake_at or huge) and "deadline" or "timeout")
          end
        end
      end
    end
  end
  function core.cancel_all()
    for co in pairs(tasks) do core.cancel(co) end
  end
  function core.kill_all()
    for co, rec in pairs(tasks) do
      unlink(rec)
      coroutine.close(co)
      tasks[co] = nil
    end
    ready = {}
  end
  core.MARKER = MARKER
  package.loaded["evalua.sched"] = core
end

local function install_json()
  local marked = setmetatable({}, { __mode = "k" })
  local json = { null = cjson.null, decode = cjson.decode }
  function json.array(t) t = t or {}; marked[t] = true; return t end
  function json.is_array(t) return marked[t] == true end
  local function encode(v)
    if type(v) ~= "table" then return cjson.encode(v) end
    local n = #v
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    if marked[v] or (n > 0 and #keys == n) then
      local parts = {}
      for i = 1, n do parts[i] = encode(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = cjson.encode(tostring(k)) .. ":" .. encode(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  function json.encode(v) return encode(v) end
  package.loaded["evalua.json"] = json
end

local function sh(cmd) return os.execute(cmd) == true end
local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function install_fs()
  local fs = {}
  function fs.cwd() return os.getenv("PWD") end
  function fs.exists(p) return sh("test -e " .. quote(p)) end
  function fs.isdir(p) return sh("test -d " .. quote(p)) end
  function fs.mkdir_p(p) assert(sh("mkdir -p " .. quote(p)), "cannot create " .. p) end
  function fs.append_line(p, line)
    local fresh = not fs.exists(p)
    local f = assert(io.open(p, "a"))
    f:write(line, "\n")
    f:close()
    if fresh then sh("chmod 600 " .. quote(p)) end
  end
  -- A file written piece by piece to a temporary name, renamed into place by commit.
  function fs.atomic_file(p)
    local tmp = p .. ".tmp"
    local f = assert(io.open(tmp, "w"))
    sh("chmod 600 " .. quote(tmp))
    return {
      write = function(_, s) assert(f:write(s)) end,
      commit = function()
        f:close()
        assert(os.rename(tmp, p))
      end,
      abort = function()
        f:close()
        os.remove(tmp)
      end,
    }
  end
  function fs.write_atomic(p, content)
    local f = fs.atomic_file(p)
    f:write(content)
    f:commit()
  end
  function fs.is_symlink(p) return sh("test -L " .. quote(p)) end
  function fs.pid() return 1 end
  -- One process: a lock is always free (the real flock is tested through bin/evalua).
  function fs.lock() return { unlock = function() end } end
  function fs.list(dir)
    local names = {}
    local p = io.popen("ls -1A " .. quote(dir) .. " 2>/dev/null")
    for name in p:lines() do names[#names + 1] = name end
    p:close()
    table.sort(names)
    return names
  end
  package.loaded["evalua.fs"] = fs
end

local secrets, handlers = {}, {}

if not real then
  install_core()
  install_json()
  install_fs()
  package.loaded["evalua.readline"] = { isatty = function() return false end }
  local function redact(text)
    for _, s in ipairs(secrets) do text = text:gsub(s:gsub("%p", "%%%0"), "***") end
    return text
  end
  package.loaded["evalua.redact"] = { redact = redact, redact_url = redact }
  _G.evalua = {
    version = "test",
    redact = redact,
    on_interrupt = function(fn) handlers[#handlers + 1] = fn end,
  }
  package.loaded["evalua"] = _G.evalua
end

-- Register a secret value for redaction (stand-in for secret("NAME")).
function host.secret(value)
  if real then return _G.evalua.register_secret(value) end
  secrets[#secrets + 1] = value
end

-- Run fn(...) as the main task and return its results; raise its error.
function host.run(fn, ...)
  if real then return fn(...) end
  local task = require "evalua.task"
  local h = task.spawn(fn, ...)
  local status = require("evalua.sched").run(h.co)
  assert(status == "done", "host: scheduler " .. status)
  require("evalua.sched").run() -- let spawned tasks finish too
  if not h.ok then error(h.err, 0) end
  return table.unpack(h.results, 1, h.results.n)
end

-- Simulate Ctrl-C: run the registered interrupt handlers (stand-in only).
function host.interrupt()
  local task = require "evalua.task"
  for _, fn in ipairs(handlers) do task.detached(fn) end
end

function host.reset_interrupt() handlers = {} end

host.parse_duration = parse_duration
return host
