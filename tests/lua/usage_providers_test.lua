-- Latency from the services that report none, through their clients against the sandbox:
-- Kapso's run and Glow's replay span their timestamps (the sandbox's runs last exactly
-- `run_seconds`, so the figure is arithmetic, not a wall-clock measure).
local t = require "tap"
local support = require "providers_support"
local glow = require "evalua.glow"
local kapso = require "evalua.kapso"

local GREETING = "ca5e0000-0000-4000-8000-000000000001"
local SUPPORT = "b3e1a7c0-0000-4000-8000-000000000001"

support.run(function()
  local base = support.start({ run_seconds = 2 })
  local wait = { interval = "50ms", max_interval = "200ms", timeout = "30s" }

  local ks = kapso.connect { base_url = base .. "/kapso/api/v1", api_key = "kapso-test-key", wait = wait }
  local run = ks:start(GREETING)
  t.is(run:results().cases[1] and run.cases[1].latency_ms, nil, "Kapso: no latency while the run is unfinished")
  run:wait():results()
  t.is(run.cases[1].latency_ms, 2000, "Kapso: a finished run's latency is ended_at - started_at (2 s)")

  local gl = glow.connect { base_url = base .. "/glow", token = "glow-test-token", wait = wait }
  local replay = gl:start(gl:create(SUPPORT))
  t.is(replay:results().cases[1].latency_ms, nil, "Glow: no latency while the replay runs")
  replay:wait():results()
  local ms = replay.cases[1].latency_ms
  t.ok(type(ms) == "number" and math.abs(ms - 2000) <= 1,
    "Glow: a completed replay's latency spans its binding row and its last message (2 s): " .. tostring(ms))
end)
t.done()
