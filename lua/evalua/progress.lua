--- progress: what `evalua run` scripts and REPL waits show of the runs in flight. On a
-- terminal, a status line on stderr rewritten in place (provider:id, status, elapsed,
-- cases done when the service says); elsewhere (CI logs) a heartbeat line at most every
-- 30 s, so a long wait never looks hung. Runs are followed through the lifecycle events
-- providers emit (evalua.hooks); nothing here talks to a service.
local hooks = require "evalua.hooks"

local progress = {}

progress.HEARTBEAT = 30 -- seconds between heartbeat lines, at most
progress.TICK = 1       -- seconds between redraws of the terminal line
progress.SHOWN = 10     -- runs named in a line; the others are counted
progress.REDRAW = 0.2   -- seconds between redraws on polls (starts and ends redraw at once)

local settings = {}

--- progress.configure{quiet=, progress=, color=} from the command line.
function progress.configure(s)
  settings = s or {}
end

local function isatty(fd)
  return require("evalua.readline").isatty(fd)
end

--- progress.color(fd) -> whether to colour what goes to fd: --color=always|never, else
-- (auto) on a terminal unless NO_COLOR is set.
function progress.color(fd)
  if settings.color == "always" then return true end
  if settings.color == "never" then return false end
  return isatty(fd) and (os.getenv("NO_COLOR") or "") == ""
end

---------------------------------------------------------------------------
-- The tracker and its renderer (a clock and an output are injected for tests)

local Tracker = {}
Tracker.__index = Tracker

local function key(run)
  return tostring(run.provider) .. ":" .. tostring(run.id)
end

local function elapsed(secs)
  secs = math.max(0, math.floor(secs + 0.5))
  if secs < 60 then return secs .. "s" end
  if secs < 3600 then return ("%dm%02ds"):format(secs // 60, secs % 60) end
  return ("%dh%02dm"):format(secs // 3600, secs % 3600 // 60)
end
progress.elapsed = elapsed

local DONE = { completed = true, passed = true, failed = true, error = true, cancelled = true }

-- "3/10 cases" when the service says how far a run is: counts it reported
-- (cases_done/cases_total), else the cases of partial results that finished.
local function cases_done(run)
  if type(run.cases_done) == "number" then
    return run.cases_total and ("%d/%d cases"):format(run.cases_done, run.cases_total)
      or ("%d cases"):format(run.cases_done)
  end
  local cases = type(run.cases) == "table" and run.cases or {}
  if #cases == 0 then return nil end
  local done = 0
  for _, c in ipairs(cases) do
    if type(c) == "table" and DONE[c.status] then done = done + 1 end
  end
  return ("%d/%d cases"):format(done, #cases)
end

--- progress.new{clock=, write=, tty=, color=, width=} -> a tracker. `clock()` gives
-- seconds, `write(text)` prints (stderr).
function progress.new(o)
  return setmetatable({ clock = o.clock, write = o.write, tty = o.tty, color = o.color, width = o.width or 100,
                        runs = {}, order = {}, head = 1, n = 0, dead = 0, shown = false }, Tracker)
end

-- A start the service holds back (Salesforce's org limit): shown until the run starts
-- or the start fails; on a non-terminal said once, at once.
function Tracker:queued(info)
  local k = "start:" .. tostring(info.token)
  if self.runs[k] then return self:tick() end
  local shown = { provider = info.provider, id = info.target, status = "queued: " .. tostring(info.reason) }
  self:started(shown, k)
  if not self.tty then self.write(("evalua: %s start of %s queued: %s\n"):format(tostring(info.provider),
    tostring(info.target), tostring(info.reason))) end
end

-- The start with `token` is over (started or failed): its queued entry goes.
function Tracker:start_resolved(token)
  if token ~= nil and self.runs["start:" .. tostring(token)] then self:finished(nil, "start:" .. tostring(token)) end
end

function Tracker:started(run, k)
  if run.start_token ~= nil then self:start_resolved(run.start_token) end
  k = k or key(run)
  if not self.runs[k] then
    local now = self.clock()
    local e = { run = run, t0 = now }
    self.runs[k] = e
    self.order[#self.order + 1] = e
    self.n = self.n + 1
    if self.n == 1 then self.last_beat = now end
  end
  self:tick()
end

-- Polls redraw the terminal line at most every REDRAW seconds: thousands of runs poll.
-- Whether a line is due is checked first: a poll that writes nothing makes no key string.
function Tracker:status(run)
  local now = self.clock()
  if self.tty then
    if now - (self.drawn or -math.huge) < progress.REDRAW then return end
  elseif self.n == 0 or now - self.last_beat < progress.HEARTBEAT then
    return
  end
  if self.runs[key(run)] then self:tick() end
end

-- A finished run's entry is marked, not removed from the middle of `order` (that was
-- quadratic at thousands of runs): `head` skips the finished ones in front, and the list
-- is rebuilt once the finished outnumber the rest.
function Tracker:finished(run, k)
  k = k or key(run)
  local e = self.runs[k]
  if not e then return end
  -- The entry stays in `order` until the list is rebuilt; the finished run (its results,
  -- megabytes on a large suite) must not stay with it.
  self.runs[k], e.done, e.run = nil, true, nil
  self.n, self.dead = self.n - 1, self.dead + 1
  local order = self.order
  while order[self.head] and order[self.head].done do self.head = self.head + 1 end
  if self.dead > self.n + progress.SHOWN then self.order, self.head, self.dead = self:in_flight(), 1, 0 end
  if self.n == 0 then self:clear() else self:tick() end
end

--- The runs in flight, oldest first: {run, t0}.
function Tracker:in_flight()
  local out = {}
  for i = self.head, #self.order do
    local e = self.order[i]
    if not e.done then out[#out + 1] = e end
  end
  return out
end

--- The text of the line: "2 runs in flight: agentforce:4KB running 1m05s (3/10 cases), ..."
-- naming the SHOWN oldest, "and N more" for the rest.
function Tracker:line(now)
  local parts, order, i = {}, self.order, self.head
  while #parts < progress.SHOWN and i <= #order do
    local e = order[i]
    if not e.done then
      local run = e.run
      local done = cases_done(run)
      parts[#parts + 1] = ("%s:%s %s %s%s"):format(tostring(run.provider), tostring(run.id),
        tostring(run.status or "?"), elapsed(now - e.t0), done and (" (" .. done .. ")") or "")
    end
    i = i + 1
  end
  local more = self.n - #parts
  return ("%d run%s in flight: %s%s"):format(self.n, self.n == 1 and "" or "s", table.concat(parts, ", "),
    more > 0 and (", and %d more"):format(more) or "")
end

-- Cut to the terminal's width, on a character boundary.
local function fit(text, width)
  local w = width - 1
  local n = utf8.len(text)
  if n and n > w then return text:sub(1, utf8.offset(text, w) - 1) .. "…" end
  return text
end

--- Redraw (terminal) or print a heartbeat when one is due (elsewhere).
function Tracker:tick()
  if self.n == 0 then return end
  local now = self.clock()
  if self.tty then
    self.drawn = now
    local text = fit(self:line(now), self.width)
    if self.color then text = "\27[2m" .. text .. "\27[0m" end
    self.write("\r\27[K" .. text)
    self.shown = true
  elseif now - self.last_beat >= progress.HEARTBEAT then
    self.last_beat = now
    self.write("evalua: " .. self:line(now) .. "\n")
  end
end

--- Remove the terminal line (before other output, and when nothing is in flight).
function Tracker:clear()
  if self.shown then
    self.write("\r\27[K")
    self.shown = false
  end
end

---------------------------------------------------------------------------
-- The process's tracker

local current

--- progress.current() -> the tracker of this process (nil before progress.start).
function progress.current()
  return current
end

-- Terminal output the script writes goes below the status line, not through it.
local function wrap_output(t)
  local print_, write_ = print, io.write
  _G.print = function(...)
    t:clear()
    print_(...)
    t:tick()
  end
  io.write = function(...) -- luacheck: ignore 122
    t:clear()
    local r = table.pack(write_(...))
    t:tick()
    return table.unpack(r, 1, r.n)
  end
end

-- Redraw (or check whether a heartbeat is due) every TICK while runs are in flight and
-- a task that started one still lives: the ticker never keeps the process alive by
-- itself, and is cancelled as soon as the last run finishes.
local function ticker(t, starters)
  local task = require "evalua.task"
  local function alive()
    for h in pairs(starters) do
      if not h.done then return true end
    end
  end
  return task.detached(function() -- not owned by the script or test that started a run
    while t.n > 0 and alive() do
      if not pcall(task.sleep, progress.TICK) then break end -- cancelled: its own end
      t:tick()
    end
    t:clear()
    t.ticking = nil
  end)
end

--- progress.start(): follow the runs this process starts (evalua run, -e, the REPL).
-- A status line on a terminal (stderr) or anywhere with --progress; a heartbeat line
-- elsewhere; nothing with --quiet. Returns the tracker (which the REPL also asks for the
-- runs in flight when leaving).
function progress.start()
  if current then return current end
  local task = require "evalua.task"
  local line = isatty(2) or settings.progress == true
  local t = progress.new { clock = task.now, tty = line, color = progress.color(2),
                           width = tonumber(os.getenv("COLUMNS") or "") or 100,
                           write = settings.quiet and function() end
                             or function(s) io.stderr:write(s) io.stderr:flush() end }
  current = t
  local starters = setmetatable({}, { __mode = "k" })
  -- Track `fn(x)`, and keep the ticker going while something is in flight.
  local function follow(fn)
    return function(x)
      local h = task.current()
      if h then starters[h] = true end
      fn(x)
      if not settings.quiet and not t.ticking and h and t.n > 0 then t.ticking = ticker(t, starters) end
    end
  end
  local function unfollow(fn)
    return function(x)
      fn(x)
      if t.n == 0 and t.ticking and t.ticking ~= task.current() then task.cancel(t.ticking) end
    end
  end
  hooks.on("run_started", follow(function(run) t:started(run) end))
  hooks.on("run_queued", follow(function(info) t:queued(info) end))
  hooks.on("run_start_failed", unfollow(function(token) t:start_resolved(token) end))
  -- A poll means someone waits (a REPL line waiting on a run an earlier line started).
  hooks.on("run_status", follow(function(run) t:status(run) end))
  hooks.on("run_finished", unfollow(function(run) t:finished(run) end))
  if line and not settings.quiet then wrap_output(t) end
  return t
end

return progress
