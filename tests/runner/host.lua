-- Test double for the C host, used only by the runner and report tests: a pure-Lua
-- `evalua.core` scheduler on a virtual clock (sleeps cost no real time), so the real
-- lua/evalua/task.lua runs on it, plus stand-ins for evalua.json, evalua.fs,
-- evalua.readline and the `evalua` global. Under bin/evalua nothing is replaced and
-- host.run(fn) simply calls fn inside the current task.
local host = {}

local real = package.preload["evalua.core"] ~= nil or package.loaded["evalua.core"] ~= nil
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
  local core, tasks, ready = {}, {}, {}
  local clock, current = 0, nil
  local MARKER = {}

  local function enqueue(rec)
    rec.state = "ready"
    ready[#ready + 1] = rec
  end

  function core.spawn(fn, ...)
    local co = coroutine.create(fn)
    local rec = { co = co, args = table.pack(...) }
    tasks[co] = rec
    enqueue(rec)
    return co
  end
  function core.suspend() return coroutine.yield(MARKER) end
  function core.timer(d) current.deadline = clock + parse_duration(d) end
  function core.wake(co, ...)
    local rec = tasks[co]
    if not rec or rec.state ~= "suspended" then return false end
    rec.deadline, rec.args = nil, table.pack(...)
    enqueue(rec)
    return true
  end
  function core.cancel_wait(co)
    local rec = tasks[co]
    if rec then rec.deadline = nil end
  end
  function core.current() return current and current.co end
  function core.now() return clock end
  core.duration = parse_duration
  -- The C core's non-raising twin: seconds, or nil and the reason.
  function core.parse_duration(d)
    local ok, v = pcall(parse_duration, d)
    if ok then return v end
    return nil, (tostring(v):gsub("^.-:%d+: ", ""))
  end

  local function resume(rec)
    current, rec.state = rec, "running"
    local ok, r = coroutine.resume(rec.co, table.unpack(rec.args, 1, rec.args.n))
    current, rec.args = nil, { n = 0 }
    if coroutine.status(rec.co) == "dead" then
      tasks[rec.co] = nil
      if not ok then io.stderr:write("host: internal error in a task: ", tostring(r), "\n") end
    elseif r == MARKER then
      rec.state = "suspended"
    else
      enqueue(rec)
    end
  end

  -- Run until `target` finished (or every task); "done" or "stuck".
  function core.run(target)
    while true do
      local batch = ready
      ready = {}
      for _, rec in ipairs(batch) do resume(rec) end
      if target and not tasks[target] or not target and next(tasks) == nil then return "done" end
      if #ready == 0 then
        local soonest
        for _, rec in pairs(tasks) do
          if rec.state == "suspended" and rec.deadline and (not soonest or rec.deadline < soonest) then
            soonest = rec.deadline
          end
        end
        if not soonest then return "stuck" end
        clock = math.max(clock, soonest)
        for _, rec in pairs(tasks) do
          if rec.state == "suspended" and rec.deadline and rec.deadline <= clock then
            rec.deadline = nil
            enqueue(rec)
          end
        end
      end
    end
  end
  package.loaded["evalua.core"] = core
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
  function fs.write_atomic(p, content)
    local tmp = p .. ".tmp"
    local f = assert(io.open(tmp, "w"))
    assert(f:write(content))
    f:close()
    sh("chmod 600 " .. quote(tmp))
    assert(os.rename(tmp, p))
  end
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
  local status = require("evalua.core").run(h.co)
  assert(status == "done", "host: scheduler " .. status)
  require("evalua.core").run() -- let spawned tasks finish too
  if not h.ok then error(h.err, 0) end
  return table.unpack(h.results, 1, h.results.n)
end

-- Simulate Ctrl-C: run the registered interrupt handlers (stand-in only).
function host.interrupt()
  local task = require "evalua.task"
  for _, fn in ipairs(handlers) do task.spawn(fn) end
end

function host.reset_interrupt() handlers = {} end

host.parse_duration = parse_duration
return host
