-- The journal: every run a test or script starts is appended as one JSON line
-- (fsync'd, mode 0600, secrets redacted) before anyone waits on it, and marked finished
-- when it ends, so that `evalua resume` can re-attach to what a crash, kill -9 or
-- Ctrl-C left running.
local fs = require "evalua.fs"
local hooks = require "evalua.hooks"
local json = require "evalua.json"
local redact = require("evalua.redact").redact

local journal = {}

-- EVALUA_JOURNAL moves the default (CI workspaces, test suites).
journal.DEFAULT = os.getenv("EVALUA_JOURNAL") or ".evalua/journal"

local Journal = {}
Journal.__index = Journal

local function key(run)
  return tostring(run.provider) .. ":" .. tostring(run.id)
end

local function now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- What is needed to re-attach: the provider's descriptor (it holds no credentials).
local function descriptor(run)
  if type(run.descriptor) == "function" then return run:descriptor() end
  return { provider = run.provider, id = run.id, status = run.status }
end

-- A journal at `path` (default .evalua/journal). Nothing touches the disk until the
-- first run is recorded: a script that starts no run leaves no .evalua/ behind.
function journal.open(path)
  return setmetatable({ path = path or journal.DEFAULT, finished = {} }, Journal)
end

function Journal:append(entry)
  if not self.ready then
    local dir = self.path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" and not fs.isdir(dir) then fs.mkdir_p(dir) end
    self.ready = true
  end
  fs.append_line(self.path, redact(json.encode(entry)))
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

function Journal:finish(run)
  local k = key(run)
  if self.finished[k] then return end
  self.finished[k] = true
  self:append({ event = "finished", key = k, status = run.status, time = now() })
end

-- Record runs as providers announce them; `locate()` names the starting test.
-- Returns a function that stops listening.
function Journal:listen(locate)
  local offs = {
    hooks.on("run_starting", function(info) self:starting(info, locate and locate()) end),
    hooks.on("run_start_failed", function(token) self:resolve_start(token, "start_failed") end),
    hooks.on("run_started", function(run) self:started(run, locate and locate()) end),
    hooks.on("run_finished", function(run) self:finish(run) end),
  }
  return function()
    for _, off in ipairs(offs) do off() end
  end
end

-- Every run in the journal at `path`, oldest first: {key, run, test, file, time,
-- finished, status}; and the number of lines that could not be read (a crash can cut
-- the last line short).
function journal.read(path)
  local f = io.open(path or journal.DEFAULT, "r")
  if not f then return {}, 0 end
  local list, by, bad = {}, {}, 0
  for line in f:lines() do
    local ok, e = pcall(json.decode, line)
    if not ok or type(e) ~= "table" or type(e.key) ~= "string" then
      if line:match("%S") then bad = bad + 1 end
    elseif (e.event == "started" or e.event == "starting") and not by[e.key] then
      local entry = { key = e.key, run = e.run, test = e.test, file = e.file, time = e.time,
                      pending_start = e.event == "starting" or nil }
      by[e.key] = entry
      list[#list + 1] = entry
      -- the start this run came from is resolved
      local begun = e.start and by["start:" .. e.start]
      if begun then begun.finished = true end
    elseif (e.event == "finished" or e.event == "start_failed" or e.event == "start_reported") and by[e.key] then
      by[e.key].finished, by[e.key].status = true, e.status
    end
  end
  f:close()
  return list, bad
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
