-- Glow as its backend behaves (glow-academic/api core/app/infra/test/): `next` already
-- replays the run it hands out (next.py), so evalua must not call `run` after it (run.py
-- would bind a second replay); run items carry chat_id = invocation id (get.py); the `get`
-- document lists messages by text id, so a replay's transcript is downloaded.
local t = require "tap"
local support = require "providers_support"
local glow = require "evalua.glow"

local SUPPORT = "b3e1a7c0-0000-4000-8000-000000000001"

support.run(function()
  local base = support.start()
  local wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" }

  local function replays(gl, test_id, run_id)
    local n = 0
    for _, item in ipairs(gl:get(test_id).runs) do
      if item.run_id == run_id then n = n + 1 end
    end
    return n
  end

  for _, backend in ipairs { false, true } do
    support.control("config", { run_seconds = 0.6, glow_next_runs = backend })
    local label = backend and "next replays (backend)" or "next hands out (seed)"
    local gl = glow.connect { base_url = base .. "/glow", token = "glow-test-token", wait = wait }
    local test_id = gl:create(SUPPORT)
    local runs_before = support.requests("/artifacts/test/run")
    local first = gl:start(test_id)
    local second = gl:start(test_id)
    local run_calls = support.requests("/artifacts/test/run") - runs_before
    t.is(run_calls, backend and 0 or 2, label .. ": run is called only when next did not replay")
    first:wait():results()
    second:wait()
    t.ok(replays(gl, test_id, first.id) == 1 and replays(gl, test_id, second.id) == 1,
      label .. ": each run replayed once")
    local case = first.cases[1]
    t.is(case.outputs.chat_id, first.invocation_id, label .. ": chat_id is the invocation id")
    t.ok(case.outputs.transcript and #case.outputs.transcript == 2 and case.outputs.transcript[1].role == "user",
      label .. ": the transcript, downloaded by text id")
    t.like(case.outputs.response or "", "Here is a short answer", label .. ": the replay's reply")
  end

  -- Turns at next+run on one test are a semaphore: a task cancelled while it waits for its
  -- turn leaves at once (the core's cancel of a parked task), and the turn goes on to the next.
  support.control("config", { run_seconds = 0.6, glow_next_runs = false, latency = 0.3 })
  local gl = glow.connect { base_url = base .. "/glow", token = "glow-test-token", wait = wait }
  local test_id = gl:create(SUPPORT)
  local holder = task.spawn(function() return gl:start(test_id) end)
  task.sleep(0.05)
  local t0 = task.now()
  local waiter = task.spawn(function() return gl:start(test_id) end)
  task.sleep(0.05)
  task.cancel(waiter)
  local ok, err = pcall(task.wait, waiter)
  local took = task.now() - t0
  t.ok(not ok and require("evalua.errors").is(err, "cancelled") and took < 0.5,
    ("a start waiting for its turn is cancelled at once (%.2fs)"):format(took))
  local first = task.wait(holder)
  local third = gl:start(test_id)
  t.ok(first.id and third.id and first.id ~= third.id, "the turn passed on: the next start gets the next run")
  support.control("config", { latency = 0 })
end)

t.done()
