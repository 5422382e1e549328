-- Group commit of the journal: lines appended by tasks in the same turn of the loop go
-- out in one write and fsync (fs.append_line, counted here), yet every append returns
-- only once its line is on disk; order is kept; a failed write reaches every waiter; a
-- cancelled waiter's line is on disk before the cancellation is raised; an append where
-- no task can wait is written at once; a burst of provider starts shares fsyncs.
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"
local fs = require "evalua.fs"
local journal = require "evalua.journal"
local agentforce = require "evalua.agentforce"

local dir = shell.sh("mktemp -d"):gsub("%s+$", "")
local read = shell.read

-- Count the writes (each one fsync) to `file` while `fn` runs; and the lines each wrote.
local function counting(file, fn)
  local real, writes, sizes = fs.append_line, 0, {}
  fs.append_line = function(path, text)
    if path == file then
      writes = writes + 1
      sizes[writes] = select(2, text:gsub("\n", "")) + 1
    end
    return real(path, text)
  end
  local ok, err = pcall(fn)
  fs.append_line = real
  assert(ok, err)
  return writes, sizes
end

local function lines(path)
  local out = {}
  for line in (read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

do -- twenty tasks appending in one turn: one write, each back only once its line is on disk
  local path = dir .. "/burst"
  local j = journal.open(path)
  local on_disk = {}
  local writes = counting(path, function()
    local hs = {}
    for i = 1, 20 do
      hs[i] = task.spawn(function()
        j:append({ event = "x", key = "k" .. i })
        on_disk[i] = (read(path) or ""):find('"key":"k' .. i .. '"', 1, true) ~= nil
      end)
    end
    task.all(hs)
  end)
  t.is(writes, 1, "20 appends in the same turn share one write and fsync")
  local all = true
  for i = 1, 20 do all = all and on_disk[i] == true end
  t.ok(all, "every append returned after its line was on disk")
  local got = lines(path)
  t.is(#got, 20, "all 20 lines written")
  t.like(got[1] .. got[20], '"key":"k1".*"key":"k20"', "in the order they were appended")
end

do -- appends in different turns: a write each
  local path = dir .. "/turns"
  local j = journal.open(path)
  local writes = counting(path, function()
    task.all { task.spawn(function()
      for i = 1, 3 do
        j:append({ event = "x", key = "t" .. i })
        task.sleep(0.01)
      end
    end) }
  end)
  t.is(writes, 3, "appends in separate turns are separate writes")
end

do -- no task can wait inside a gsub callback: the line is written at once
  local path = dir .. "/sync"
  local j = journal.open(path)
  local seen
  local writes = counting(path, function()
    local _ = ("x"):gsub("x", function()
      j:append({ event = "x", key = "now" })
      seen = read(path)
    end)
  end)
  t.is(writes, 1, "an append where no task can wait is one write")
  t.like(seen or "", '"key":"now"', "done before the append returned")
end

do -- a write that fails is the error of every task waiting for it
  local path = dir .. "/missing/sub/j"
  local j = journal.open(path)
  j.ready = true -- skip the directory creation, so the write fails
  local errs = {}
  local hs = {}
  for i = 1, 3 do
    hs[i] = task.spawn(function()
      local ok, err = pcall(j.append, j, { event = "x", key = "f" .. i })
      errs[i] = not ok and tostring(err) or "no error"
    end)
  end
  task.all(hs)
  local all = true
  for i = 1, 3 do all = all and errs[i]:find("missing/sub/j", 1, true) ~= nil end
  t.ok(all, "a failed group write raises in every appender, naming the journal")
end

do -- a cancelled appender: its line is on disk before the cancellation is raised
  local path = dir .. "/cancel"
  local j = journal.open(path)
  local err, had_line
  local h = task.spawn(function()
    local ok, e = pcall(j.append, j, { event = "x", key = "c1" })
    err = not ok and e
    had_line = (read(path) or ""):find('"key":"c1"', 1, true) ~= nil
  end)
  task.spawn(function() task.cancel(h) end)
  task.all { h }
  t.ok(task.is_cancelled(err), "the cancellation is raised")
  t.ok(had_line, "after the line was written")
end

do -- 40 provider starts at once: far fewer fsyncs than the three lines each writes
  local base = sandbox.start()
  sandbox.control("config", { run_seconds = { 1, 1 }, max_in_progress = 100 })
  local path = dir .. "/starts"
  local j = journal.open(path)
  local stop = j:listen()
  local sf = agentforce.connect { base_url = base .. "/sf", client_id = "sandbox-client-id",
                                  client_secret = "sandbox-client-secret" }
  local started_before_wait = true
  local writes, sizes = counting(path, function()
    local hs = {}
    for i = 1, 40 do
      hs[i] = task.spawn(function()
        local run = sf:start(i % 2 == 0 and "Order_Support_All_Pass" or "Billing_Agent_Regressions")
        local text = read(path) or ""
        started_before_wait = started_before_wait and text:find('"key":"agentforce:' .. run.id .. '"', 1, true) ~= nil
        run:wait { interval = 0.2, timeout = 60 }
      end)
    end
    task.all(hs)
  end)
  stop()
  sandbox.stop()
  local starting, started, finished = 0, 0, 0
  for _, line in ipairs(lines(path)) do
    if line:find('"event":"starting"', 1, true) then starting = starting + 1 end
    if line:find('"event":"started"', 1, true) then started = started + 1 end
    if line:find('"event":"finished"', 1, true) then finished = finished + 1 end
  end
  t.is(starting .. " " .. started .. " " .. finished, "40 40 40", "every start, run and end is journalled")
  t.ok(started_before_wait, "each run is on disk before sf:start returns it")
  t.is(sizes[1], 40, "the 40 starts made in one turn were journalled in one write")
  t.ok(writes < 120, ("120 lines in %d writes (one per turn that appended)"):format(writes))
  t.is(#journal.unfinished(path), 0, "and the journal reads back with nothing unfinished")
end

shell.sh("rm -rf " .. dir)
do -- a line's time is the UTC second it was written in, a new second's once it has come
  local path = dir .. "/times"
  local j = journal.open(path)
  local function utc(secs) return os.date("!%Y-%m-%dT%H:%M:%SZ", secs) end
  local function in_range(line, from, to)
    local time = line:match('"time":"([^"]*)"')
    for secs = from, to do if time == utc(secs) then return true end end
    return false
  end
  local t0 = os.time()
  j:finish({ provider = "kapso", id = "T1", status = "completed" })
  j:finish({ provider = "kapso", id = "T2", status = "completed" })
  local t1 = os.time()
  for _ = 1, 60 do -- at most 3 s: until the clock's second has moved on
    if os.time() > t1 then break end
    task.sleep(0.05)
  end
  local t2 = os.time()
  j:finish({ provider = "kapso", id = "T3", status = "completed" })
  local t3 = os.time()
  local got = lines(path)
  t.ok(in_range(got[1], t0, t1) and in_range(got[2], t0, t1), "the first lines carry the second they were written in")
  t.ok(t2 > t1 and in_range(got[3], t2, t3), "a line of a later second carries that second, not the earlier one")
end

t.done()
