-- Randomized concurrency test of the core (issue 9): per seed, a few hundred tasks run
-- random programs of http.get (each with a tag the sandbox echoes back, some retried,
-- some timing out), sleeps, bare yields, spawn+join, detached tasks, task.all,
-- task.timeout, poll.wait, nested coroutine.wrap and <close> scopes, while canceller
-- tasks (and parents) cancel tasks at random moments; some tasks swallow errors in a
-- careless pcall. For each seed it asserts:
--   * every response reaches the request that sent it (its tag);
--   * no task runs after it ended, every task that started ended with its <close>
--     scopes closed;
--   * every cancel takes effect within 50 ms of loop time (task.now()) or, when the loop
--     is slow, within a few turns of it, and nothing a
--     task would have sent after its cancellation is sent (unless it swallowed it);
--   * no transfer, timer or task is left when the loop drains (sched.stats()).
--
--   EVALUA_STRESS_SEEDS="1-200" or "4,17"   seeds (default "1-3"; make stress runs 200)
--   EVALUA_STRESS_TASKS=N                    root tasks per seed (default 150)
-- The seed is printed with every failure: rerun it with EVALUA_STRESS_SEEDS=N.
local t = require "tap"
local sandbox = require "sandbox"
local errors = require "evalua.errors"
local core = require "evalua.sched"

local CANCEL_BOUND = 0.05          -- seconds of loop time for a cancel to take effect
local CANCEL_TURNS = 100           -- or loop turns, on a slow machine (see cancel())
local SEED_BUDGET = 60             -- seconds one seed may take before it is declared hung
local MAX_DEPTH = 3
local ROOTS = math.tointeger(tonumber(os.getenv("EVALUA_STRESS_TASKS") or "")) or 150

local function parse_seeds(spec)
  local seeds = {}
  for part in spec:gmatch("[^,%s]+") do
    local a, b = part:match("^(%d+)%-(%d+)$")
    if a then
      for s = tonumber(a), tonumber(b) do seeds[#seeds + 1] = s end
    elseif part:match("^%d+$") then
      seeds[#seeds + 1] = tonumber(part)
    else
      error("EVALUA_STRESS_SEEDS: not a seed or a range: " .. part, 0)
    end
  end
  return seeds
end

-- A generator of integers in [1, n] of its own (math.random is shared with the library).
local function rng(seed)
  local state = seed * 2654435761 + 1
  return function(n)
    state = state * 6364136223846793005 + 1442695040888963407
    return (state >> 33) % n + 1
  end
end

local function pick(r, list) return list[r(#list)] end

local function run_seed(seed, base)
  local master = rng(seed)
  local seq = 0
  local function bump() seq = seq + 1 return seq end
  local recs, live = {}, {}           -- every task record; records of tasks that can be cancelled
  local tags, ntags = {}, 0
  local problems = {}
  local counts = { tasks = 0, requests = 0, cancels = 0, timed = 0, max_turns = 0, timeouts = 0, wraps = 0, scopes = 0 }
  local function problem(fmt, ...)
    if #problems < 25 then problems[#problems + 1] = fmt:format(...) end
  end

  local function newrec(kind, parent)
    local rec = { id = #recs + 1, kind = kind, parent = parent, depth = parent and parent.depth + 1 or 0, open = 0,
                  stack = {} }
    recs[#recs + 1] = rec
    counts.tasks = counts.tasks + 1
    return rec
  end

  -- Every step of a task goes through here: a task must never run after it ended.
  local verbose = os.getenv("EVALUA_STRESS_VERBOSE")
  local function step(rec, what)
    if rec.end_seq then problem("task %d (%s) ran a step (%s) after it ended", rec.id, rec.kind, what) end
    if verbose then
      rec.trace = rec.trace or {}
      rec.trace[#rec.trace + 1] = ("%.3f %s"):format(task.now(), what)
    end
  end

  -- A cancellation is never swallowed (a cancelled child's, re-raised by a join, ends
  -- this task too); a timeout is expected; anything else is a problem.
  local function rethrow(rec, err)
    if errors.is(err, "cancelled") then error(err, 0) end
    if errors.is(err, "timeout") then counts.timeouts = counts.timeouts + 1 return end
    problem("task %d (%s): unexpected error: %s", rec.id, rec.kind, tostring(err))
  end

  local program, task_body

  local function cancel(rec, by)
    if not rec.h then return end
    local s = bump()
    if task.cancel(rec.h) and not rec.cancel_seq then
      rec.cancel_seq, rec.cancel_at, rec.cancelled_by = s, task.now(), by
      -- Count the loop's turns until the task ended: a watcher that only yields runs once
      -- a turn (and keeps the loop from sleeping meanwhile). A cancel may need a few turns
      -- (a task cancelled before it started runs to its first wait, its children are
      -- cancelled and reaped in turn), and on a loaded machine a turn can take 20 ms; a
      -- cancel ignored until the task's own wait ends takes thousands of turns.
      task.detached(function()
        local n = 0
        while not rec.h.done and n <= CANCEL_TURNS do n = n + 1 coroutine.yield() end
        rec.cancel_turns = n
      end)
      rec.cancelled_in = table.concat(rec.stack, ">")
      -- What each task under it was doing then: a late cancel's message names the slowest.
      rec.below = {}
      for _, d in ipairs(recs) do
        local up = d.parent
        while up and up ~= rec do up = up.parent end
        if up == rec and not d.end_seq then rec.below[d] = table.concat(d.stack, ">") end
      end
      counts.cancels = counts.cancels + 1
    end
  end

  local function spawn_child(rec, r, kind)
    local c = newrec(kind, rec)
    c.mine = true
    c.h = task.spawn(task_body, c, rng(r(1 << 30)))
    live[#live + 1] = c
    return c
  end

  local ops = {}

  function ops.http(rec, r)
    ntags = ntags + 1
    local tag = ("s%d-t%d-%d"):format(seed, rec.id, ntags)
    tags[tag] = { rec = rec, seq = bump() }
    local query = { tag = tag, delay = pick(r, { 0, 0, 0, 0.01, 0.03, 0.08 }) }
    local opts = { query = query, retry = false }
    local kind = r(6)
    if kind == 1 then                              -- a 503 with Retry-After: 0, retried once
      query.status, query.retry_after = 503, 0
      opts.retry = { attempts = 2, backoff = "5ms", max_backoff = "10ms" }
    elseif kind == 2 then                          -- answered after the attempt timed out
      query.delay, opts.timeout = 0.3, 0.05
    end
    counts.requests = counts.requests + 1
    local ok, res = pcall(http.get, base .. "/_/echo", opts)
    step(rec, "after http.get")
    if not ok then return rethrow(rec, res) end
    local got = res:json().query.tag
    if got ~= tag then problem("request %s got the response of %s", tag, tostring(got)) end
    if res.status ~= (query.status or 200) then problem("request %s: status %d", tag, res.status) end
  end

  function ops.sleep(rec, r)
    task.sleep(pick(r, { 0, 0.002, 0.01, 0.03, 0.06 }))
    step(rec, "after task.sleep")
  end

  function ops.yield(rec, r)
    if rec.in_wrap > 0 then return ops.sleep(rec, r) end
    for _ = 1, r(3) do coroutine.yield() step(rec, "after a bare yield") end
  end

  function ops.spawn(rec, r)
    local c = spawn_child(rec, r, "spawned")
    local how = r(4)
    if how == 1 then return end                    -- left running
    if how == 2 then                               -- cancelled by its parent, then joined
      if rec.in_wrap == 0 and r(2) == 1 then
        for _ = 1, r(3) do coroutine.yield() end     -- the child may be READY now
      else
        task.sleep(pick(r, { 0, 0.005, 0.02 }))
      end
      step(rec, "before cancelling its child")
      cancel(c, "parent")
      -- Not joined (that would raise its cancellation here): watched until it ended.
      local t0 = task.now()
      while not c.h.done and task.now() - t0 < 1 do task.sleep(0.005) end
      step(rec, "after its child ended")
      return
    end
    local ok, err = pcall(task.wait, c.h)
    step(rec, "after task.wait")
    if not ok then rethrow(rec, err) end
  end

  -- A task no scope owns (shared work): it runs on after this task ends.
  function ops.detached(rec, r)
    local c = newrec("detached", rec)
    c.mine = true
    c.h = task.detached(task_body, c, rng(r(1 << 30)))
    live[#live + 1] = c
  end

  function ops.all(rec, r)
    local fns = {}
    for i = 1, r(3) do
      local c = newrec("all", rec)
      local sub = rng(r(1 << 30))
      fns[i] = function() return task_body(c, sub) end
    end
    local ok, err = pcall(task.all, fns)
    step(rec, "after task.all")
    if not ok then rethrow(rec, err) end
  end

  function ops.timeout(rec, r)
    -- task.timeout runs its function in the calling task (and coroutine): `c` is a part
    -- of this task, not a task of its own.
    local c = newrec("timeout", rec)
    c.inline, c.in_wrap = true, rec.in_wrap
    local sub = rng(r(1 << 30))
    local ok, err = pcall(task.timeout, pick(r, { 0.01, 0.04, 0.15, 1 }), task_body, c, sub)
    step(rec, "after task.timeout")
    if not ok then rethrow(rec, err) end
  end

  function ops.poll(rec, r)
    local calls, want = 0, r(4)
    local ok, err = pcall(poll.wait, function()
      step(rec, "in a poll.wait check")
      calls = calls + 1
      return calls >= want
    end, { interval = 0.005, factor = 1.5, jitter = 0.2, timeout = pick(r, { 0.01, 1 }) })
    step(rec, "after poll.wait")
    if not ok then rethrow(rec, err) end
  end

  function ops.wrap(rec, r)
    counts.wraps = counts.wraps + 1
    local n = r(3)
    local sub = rng(r(1 << 30))
    rec.in_wrap = rec.in_wrap + 1
    local gen = coroutine.wrap(function()
      for i = 1, n do
        program(rec, sub, 1)
        coroutine.yield(i)
      end
      return "end"
    end)
    local ok, err = pcall(function()
      for i = 1, n do
        local v = gen()
        if v ~= i then problem("task %d: coroutine.wrap yielded %s, expected %d", rec.id, tostring(v), i) end
      end
      local last = gen()
      if last ~= "end" then problem("task %d: coroutine.wrap returned %s", rec.id, tostring(last)) end
    end)
    rec.in_wrap = rec.in_wrap - 1
    step(rec, "after coroutine.wrap")
    if not ok then rethrow(rec, err) end
  end

  function ops.scope(rec, r)
    counts.scopes = counts.scopes + 1
    rec.open = rec.open + 1
    local _ <close> = setmetatable({}, { __close = function()
      step(rec, "closing a scope")
      rec.open = rec.open - 1
    end })
    program(rec, r, 1)
  end

  -- A careless user's pcall that swallows everything, cancellation included. Such a
  -- task may go on after its cancel: it is left out of the cancel-timing checks only.
  function ops.sloppy(rec, r)
    local ok, err = pcall(program, rec, r, 1)
    step(rec, "after a pcall that swallows errors")
    if not ok and errors.is(err, "cancelled") then
      -- This task may go on after its cancel, and whoever waits for it (task.all, a
      -- task.timeout, a join) may end late because of it.
      local up = rec
      while up do up.swallowed, up = true, up.parent end
    end
  end

  local weights = { { "http", 30 }, { "sleep", 14 }, { "yield", 10 }, { "spawn", 10 }, { "all", 7 },
                    { "timeout", 7 }, { "poll", 5 }, { "wrap", 7 }, { "scope", 10 }, { "sloppy", 8 }, { "detached", 3 } }
  local nesting = { spawn = true, all = true, timeout = true, wrap = true, scope = true, sloppy = true, detached = true }
  local total = 0
  for _, w in ipairs(weights) do total = total + w[2] end

  local function choose(rec, r)
    local x = r(total)
    for _, w in ipairs(weights) do
      x = x - w[2]
      if x <= 0 then
        if nesting[w[1]] and rec.depth >= MAX_DEPTH then return "http" end
        return w[1]
      end
    end
  end

  -- A random program of 1..4 steps (`steps` of them when given).
  function program(rec, r, steps)
    for _ = 1, steps or r(4) do
      local op = choose(rec, r)
      step(rec, op)
      local stack = rec.stack
      stack[#stack + 1] = op                       -- what the task is doing, for messages
      ops[op](rec, r)
      stack[#stack] = nil
    end
  end

  function task_body(rec, r)
    if not rec.inline then
      rec.h = rec.h or task.current()
      if not rec.mine then live[#live + 1] = rec end
    end
    rec.start_seq, rec.in_wrap = bump(), rec.in_wrap or 0
    local _ <close> = setmetatable({}, { __close = function()
      step(rec, "its end")
      if rec.open ~= 0 then problem("task %d (%s) ended with %d <close> scope(s) not closed", rec.id, rec.kind, rec.open) end
      rec.end_seq, rec.ended_at = bump(), task.now()
    end })
    program(rec, r)
  end

  -- Roots and cancellers.
  local before_log = sandbox.control("requests?since=0&limit=1").last_seq
  for _ = 1, ROOTS do
    local rec = newrec("root")
    rec.mine = true
    rec.h = task.spawn(task_body, rec, rng(master(1 << 30)))
    live[#live + 1] = rec
  end
  local stop = false
  local cancellers = {}
  for i = 1, 4 do
    local r = rng(master(1 << 30))
    cancellers[i] = task.spawn(function()
      while not stop do
        -- A bare yield lets the tasks made READY this turn run: some are READY next time.
        if r(3) == 1 then coroutine.yield() else task.sleep(pick(r, { 0, 0.002, 0.01, 0.02, 0.05 })) end
        local victim = live[r(#live)]
        if victim and victim.h and not victim.h.done and r(2) == 1 then cancel(victim, "canceller") end
      end
    end)
  end

  -- Wait (bounded) until every task this seed made has ended.
  local started = task.now()
  local function all_done()
    for _, rec in ipairs(recs) do
      if rec.h and not rec.h.done then return false end
    end
    return true
  end
  while not all_done() and task.now() - started < SEED_BUDGET do task.sleep(0.02) end
  stop = true
  for _, h in ipairs(cancellers) do pcall(task.wait, h) end
  local hung = {}
  for _, rec in ipairs(recs) do
    if rec.h and not rec.h.done and #hung < 10 then hung[#hung + 1] = ("%d (%s)"):format(rec.id, rec.kind) end
  end
  local took = task.now() - started

  -- Drained: poll the counters briefly (a cancelled task ends on the loop's next turn).
  local s
  for _ = 1, 100 do
    s = core.stats()
    if s.requests == 0 and s.timers == 0 and s.tasks == 1 then break end
    task.sleep(0.01)
  end

  -- The server's log: which tags arrived.
  local arrived = {}
  for _, entry in ipairs(sandbox.control(("requests?since=%d&limit=100000"):format(before_log)).requests) do
    local tag = entry.query and entry.query.tag
    if tag then arrived[tag] = true end
  end

  local label = ("seed %d: "):format(seed)
  local function report(ok, name, lines)
    if not t.ok(ok, label .. name) then
      for _, line in ipairs(lines or {}) do t.diag("  " .. line) end
      t.diag(("  rerun: EVALUA_STRESS_SEEDS=%d EVALUA_STRESS_TASKS=%d bin/evalua tests/lua/core_random_test.lua")
        :format(seed, ROOTS))
    end
  end

  report(#hung == 0, ("every task ended within %d s"):format(SEED_BUDGET), { "still running: " .. table.concat(hung, ", ") })
  report(#problems == 0, "responses reach their requests; no task runs after it ended; <close> scopes close", problems)

  local late, unended = {}, {}
  for _, rec in ipairs(recs) do
    if rec.cancel_seq and rec.start_seq and rec.ended_at and not rec.swallowed then
      counts.timed = counts.timed + 1
      local delay, nturns = rec.ended_at - rec.cancel_at, rec.cancel_turns or math.huge
      if nturns > counts.max_turns then counts.max_turns = nturns end
      if delay > CANCEL_BOUND and nturns > CANCEL_TURNS and #late < 10 then
        late[#late + 1] = ("task %d (%s, cancelled by its %s in %s) ended %.3fs and %d loop turns after the cancel")
          :format(rec.id, rec.kind, rec.cancelled_by, rec.cancelled_in ~= "" and rec.cancelled_in or "(between steps)",
            delay, nturns)
        local slowest, doing
        for d, what in pairs(rec.below) do
          if d.ended_at and (not slowest or d.ended_at > slowest.ended_at) then slowest, doing = d, what end
        end
        if slowest then
          late[#late + 1] = ("  the last task under it to end: %d (%s, in %s) %.3fs after the cancel"):format(
            slowest.id, slowest.kind, doing ~= "" and doing or "(between steps)", slowest.ended_at - rec.cancel_at)
        end
        if verbose then
          late[#late + 1] = ("  cancelled at %.3f"):format(rec.cancel_at)
          for _, d in ipairs(recs) do
            local up = d.parent
            while up and up ~= rec do up = up.parent end
            if up == rec then
              late[#late + 1] = ("  under it: %d (%s, parent %d, in %s at the cancel) ended %s"):format(d.id, d.kind,
                d.parent.id, rec.below[d] or "-", d.ended_at and ("%.3fs after"):format(d.ended_at - rec.cancel_at) or "never")
              for _, line in ipairs(d.trace or {}) do late[#late + 1] = "    " .. line end
            end
          end
        end
      end
    end
    if rec.start_seq and not rec.end_seq and #unended < 10 then
      unended[#unended + 1] = ("task %d (%s) started and never ran its end (<close>)"):format(rec.id, rec.kind)
    end
  end
  report(#late == 0, ("every cancel takes effect within %d ms of loop time (or %d loop turns)")
    :format(CANCEL_BOUND * 1000, CANCEL_TURNS), late)
  report(#unended == 0, "every task that started ran its <close> handlers", unended)

  local sent_after = {}
  for tag, info in pairs(tags) do
    local rec = info.rec
    if rec.cancel_seq and not rec.swallowed and info.seq > rec.cancel_seq and arrived[tag] and #sent_after < 10 then
      sent_after[#sent_after + 1] = ("request %s was sent after task %d was cancelled"):format(tag, rec.id)
    end
  end
  report(#sent_after == 0, "nothing is sent after its task was cancelled", sent_after)
  report(s.requests == 0 and s.timers == 0 and s.tasks == 1, "no transfer, timer or task is left when the loop drains",
    { ("sched.stats(): requests %d, timers %d, tasks %d (1 expected: this file's main task)")
      :format(s.requests, s.timers, s.tasks) })
  t.diag(("seed %d: %d tasks, %d requests, %d cancels (%d timed, at most %d turns), %d timeouts, %d wraps, %d scopes in %.2fs")
    :format(seed, counts.tasks, counts.requests, counts.cancels, counts.timed, counts.max_turns, counts.timeouts,
      counts.wraps, counts.scopes, took))
end

local base = sandbox.start()
local ok, err = pcall(function()
  for _, seed in ipairs(parse_seeds(os.getenv("EVALUA_STRESS_SEEDS") or "1-3")) do
    io.stdout:write("# seed ", seed, "\n")          -- printed first: a crash still names its seed
    io.stdout:flush()
    run_seed(seed, base)
  end
end)
sandbox.stop()
if not ok then error(err, 0) end
t.done()
