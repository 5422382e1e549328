-- The journal: every run a test or script starts is appended as one JSON line
-- (fsync'd, mode 0600, never through a symbolic link, secrets redacted) before anyone
-- waits on it, and marked finished once it is accounted for -- for `evalua test` and
-- `resume`, when a report holding its verdict has been written -- so that
-- `evalua resume` can re-attach to what a crash, kill -9 or Ctrl-C left unreported.
-- A run evalua cancelled itself (and the service confirmed) is marked at once.
-- Group commit: the lines tasks append in one turn of the loop share one write and fsync.
local fs = require "evalua.fs"
local hooks = require "evalua.hooks"
local json = require "evalua.json"
local redact = require("evalua.redact").redact
local sched = require "evalua.sched"
local task = require "evalua.task"

local journal = {}

-- EVALUA_JOURNAL moves the default (CI workspaces, test suites).
journal.DEFAULT = os.getenv("EVALUA_JOURNAL") or ".evalua/journal"

local Journal = {}
Journal.__index = Journal

local function key(run)
  return tostring(run.provider) .. ":" .. tostring(run.id)
end

-- The UTC time of a line, to the second: made once per second (three lines per run
-- share it in a burst of starts; os.date costs ten times os.time).
local stamp_second, stamp

local function now()
  local t = os.time()
  if t ~= stamp_second then stamp_second, stamp = t, os.date("!%Y-%m-%dT%H:%M:%SZ", t) end
  return stamp
end

-- What is needed to re-attach: the provider's descriptor (it holds no credentials).
local function descriptor(run)
  if type(run.descriptor) == "function" then return run:descriptor() end
  return { provider = run.provider, id = run.id, status = run.status }
end

-- A journal at `path` (default .evalua/journal). Nothing touches the disk until the
-- first run is recorded: a script that starts no run leaves no .evalua/ behind. With
-- `opts.shared_by` (the command's name), the first record also takes a shared lock, so
-- that no `evalua resume` collects this session's runs while it is still running.
function journal.open(path, opts)
  return setmetatable({ path = path or journal.DEFAULT, finished = {}, unreported = {},
                        shared_by = opts and opts.shared_by }, Journal)
end

-- Group commit. A line appended inside a task joins the batch of its journal's file
-- that is still open, and the task waits until a flusher -- a task spawned with the
-- batch, so it runs after every task of the current turn -- has written the batch in one
-- write and fsync'd it: ten thousand starts in a burst cost a few fsyncs per turn, not
-- three each, and every append still returns only once its line is on disk. A wait
-- ended otherwise (cancelled, the deadline) writes the batch at once before raising, so
-- the line is on disk whatever ended the wait; outside a task (or where a task cannot
-- wait) the line is written at once, after the open batch, in order.
local open_batch = {} -- path -> {lines, done, err, event}

local function write_batch(path, batch)
  if open_batch[path] == batch then open_batch[path] = nil end
  if not batch.done then
    local ok, err = pcall(fs.append_line, path, table.concat(batch.lines, "\n"))
    batch.done, batch.err = true, (not ok) and err or nil
  end
  batch.event:set()
end

local function append_line(path, line)
  local batch = open_batch[path]
  if not (sched.current() and coroutine.isyieldable()) then
    if batch then
      batch.lines[#batch.lines + 1] = line
      write_batch(path, batch)
      if batch.err then error(batch.err, 0) end
      return
    end
    return fs.append_line(path, line)
  end
  if not batch then
    batch = { lines = {}, done = false, event = task.event() }
    open_batch[path] = batch
    task.detached(write_batch, path, batch)
  end
  batch.lines[#batch.lines + 1] = line
  local ok, err = pcall(batch.event.wait, batch.event)
  if not ok then
    write_batch(path, batch)
    error(err, 0)
  end
  if batch.err then error(batch.err, 0) end
end

function Journal:append(entry)
  if not self.ready then
    local dir = self.path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" and not fs.isdir(dir) then fs.mkdir_p(dir) end
    if self.shared_by then
      local lock, holder = journal.lock(self.path, self.shared_by, true)
      if not lock then
        error(("journal %s is in use by %s: a run cannot be recorded while it collects the journal's runs")
          :format(self.path, holder), 0)
      end
      self.lock = lock
    end
    self.ready = true
  end
  append_line(self.path, redact(json.encode(entry)))
end

-- `where` optionally says who started the run: {test = ..., file = ...}.
function Journal:started(run, where)
  where = where or {}
  self:append({ event = "started", key = key(run), run = descriptor(run), time = now(),
                test = where.test, file = where.file, start = run.start_token })
end

-- A start request about to be sent: if no `started` (or `start_failed`) follows, a run
-- may exist on the service that evalua never heard of, and resume says so.
function Journal:starting(info, where)
  where = where or {}
  self:append({ event = "starting", key = "start:" .. info.token, time = now(),
                run = { provider = info.provider, target = info.target, base_url = info.base_url },
                test = where.test, file = where.file })
end

function Journal:resolve_start(token, event)
  self:append({ event = event, key = "start:" .. token, time = now() })
end

function Journal:finish(run, event)
  local k = key(run)
  if self.finished[k] then return end
  self.finished[k] = true
  self.unreported[k] = nil
  self:append({ event = event or "finished", key = k, status = run.status, time = now() })
end

-- A run that ended but is not in a written report yet: finished by `reported()`. Only
-- what `finish` writes is kept, not the run (its documents would stay alive until then).
function Journal:ended(run)
  local k = key(run)
  if not self.finished[k] then self.unreported[k] = { provider = run.provider, id = run.id, status = run.status } end
end

-- The reports holding every ended run are on disk: mark those runs finished.
function Journal:reported()
  local runs = {}
  for _, run in pairs(self.unreported) do runs[#runs + 1] = run end
  table.sort(runs, function(a, b) return key(a) < key(b) end)
  for _, run in ipairs(runs) do self:finish(run) end
end

-- Record runs as providers announce them; `locate()` names the starting test. With
-- `opts.until_reported`, an ended run stays unfinished until `reported()`. Returns a
-- function that stops listening.
function Journal:listen(locate, opts)
  local deferred = opts and opts.until_reported
  local offs = {
    hooks.on("run_starting", function(info) self:starting(info, locate and locate()) end),
    hooks.on("run_start_failed", function(token) self:resolve_start(token, "start_failed") end),
    hooks.on("run_started", function(run) self:started(run, locate and locate()) end),
    hooks.on("run_finished", function(run)
      if deferred then self:ended(run) else self:finish(run) end
    end),
    hooks.on("run_cancelled", function(run) self:finish(run, "cancelled") end),
  }
  return function()
    for _, off in ipairs(offs) do off() end
  end
end

local STRING_FIELDS = { "event", "key", "test", "file", "time", "start", "status" }

-- Why a decoded journal record cannot be used, or nil. A record names a run (or a
-- start) by `key`; `started`/`starting` carry the descriptor in `run`.
local function invalid(e)
  if type(e) ~= "table" then return "not a JSON object" end
  for _, f in ipairs(STRING_FIELDS) do
    if e[f] ~= nil and type(e[f]) ~= "string" then return ('"%s" is a %s, not a string'):format(f, type(e[f])) end
  end
  if e.key == nil then return 'no "key"' end
  if e.event == "started" or e.event == "starting" then
    if type(e.run) ~= "table" then return ('no "run" descriptor (got %s)'):format(type(e.run)) end
    if type(e.run.provider) ~= "string" or not tostring(e.run.provider):match("^[%w_]+$") then
      return '"run.provider" is not a provider name'
    end
    if e.event == "started" and type(e.run.id) ~= "string" and math.type(e.run.id) ~= "integer" then
      return '"run.id" is missing'
    end
    if e.run.base_url ~= nil and type(e.run.base_url) ~= "string" then return '"run.base_url" is not a string' end
  end
end

-- The journal's text; a symbolic link at `path` is refused (it may point anywhere).
local function read_text(path)
  if fs.is_symlink(path) then
    error(("journal %s is a symbolic link: refusing to follow it"):format(path), 0)
  end
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Every run in the journal at `path`, oldest first: {key, run, test, file, time,
-- finished, status, cancelled}; and the lines that could not be used, as
-- {line = n, reason = text} (a crash can cut the last line short, others may be
-- planted or damaged: they are skipped, the rest is read).
function journal.read(path)
  local text = read_text(path or journal.DEFAULT)
  if not text then return {}, {} end
  local list, by, bad, n = {}, {}, {}, 0
  for line in text:gmatch("([^\n]*)\n?") do
    n = n + 1
    local ok, e = pcall(json.decode, line)
    local why = not ok and "not JSON" or invalid(e)
    if why then
      if line:match("%S") then bad[#bad + 1] = { line = n, reason = why } end
    elseif (e.event == "started" or e.event == "starting") and not by[e.key] then
      local entry = { key = e.key, run = e.run, test = e.test, file = e.file, time = e.time,
                      pending_start = e.event == "starting" or nil }
      by[e.key] = entry
      list[#list + 1] = entry
      -- the start this run came from is resolved
      local begun = e.start and by["start:" .. e.start]
      if begun then begun.finished = true end
    elseif (e.event == "finished" or e.event == "cancelled" or e.event == "start_failed"
            or e.event == "start_reported") and by[e.key] then
      by[e.key].finished, by[e.key].status = true, e.status
      by[e.key].cancelled = e.event == "cancelled" or nil
    end
  end
  return list, bad
end

-- Hold the journal for this process (`by`, default "resume"; `shared` among sessions
-- that only add runs): returns the lock, or nil and who holds it (from the last `locked`
-- record) when another process does.
function journal.lock(path, by, shared)
  path = path or journal.DEFAULT
  local lock = fs.lock(path, shared)
  if not lock then
    local holder
    for line in (read_text(path) or ""):gmatch("[^\n]+") do
      local ok, e = pcall(json.decode, line)
      if ok and type(e) == "table" and e.event == "locked" then holder = e end
    end
    return nil, holder and ("evalua %s (pid %s, since %s)"):format(tostring(holder.by),
      tostring(math.tointeger(holder.pid) or holder.pid),
      tostring(holder.time)) or "another process"
  end
  fs.append_line(path, json.encode({ event = "locked", key = "lock", by = by or "resume", pid = fs.pid(),
                                     time = now() }))
  return lock
end

-- The runs started and never marked finished.
function journal.unfinished(path)
  local list, bad = journal.read(path)
  local out = {}
  for _, e in ipairs(list) do
    if not e.finished then out[#out + 1] = e end
  end
  return out, bad
end

return journal
