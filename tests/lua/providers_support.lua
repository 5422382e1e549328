-- Shared setup of the provider lifecycle tests: a sandbox with short runs, quick
-- retries, a recorder for run hooks, fault injection and the sandbox's counters.
local sandbox = require "sandbox"
local hooks = require "evalua.hooks"

local support = {}
support.control = sandbox.control
support.stop = sandbox.stop

-- Start the sandbox; runs last `run_seconds` (default 0.6 s); retries back off quickly.
function support.start(config)
  local base = sandbox.start()
  sandbox.control("config", config or { run_seconds = 0.6 })
  http.configure { retry = { attempts = 3, backoff = "10ms", max_backoff = "50ms" } }
  return base
end

-- Add one fault rule (see tests/sandbox/faults.py); it expires after `times` hits.
function support.fault(rule)
  sandbox.control("faults", { rules = { rule } })
end

-- Record run hook events as {event, id, status}; returns the list and a stop function.
function support.record()
  local events, offs = {}, {}
  for _, name in ipairs { "run_started", "run_status", "run_finished" } do
    offs[#offs + 1] = hooks.on(name, function(run)
      events[#events + 1] = { event = name, id = run.id, status = run.status }
    end)
  end
  return events, function()
    for _, off in ipairs(offs) do off() end
  end
end

function support.count(events, name, id)
  local n = 0
  for _, e in ipairs(events) do
    if e.event == name and (id == nil or e.id == id) then n = n + 1 end
  end
  return n
end

function support.stats()
  return sandbox.control("stats")
end

-- Requests the sandbox saw on routes whose pattern contains `fragment`.
function support.requests(fragment)
  local n = 0
  for route, count in pairs(support.stats().by_path) do
    if route:find(fragment, 1, true) then n = n + count end
  end
  return n
end

-- Run the test body, then stop the sandbox even when the body failed (a live sandbox
-- would keep the test process waiting for it).
function support.run(body)
  local ok, err = xpcall(body, debug.traceback)
  sandbox.stop()
  if not ok then error(err, 0) end
end

-- pcall that returns the error object (or nil when nothing was raised).
function support.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return nil end
  return err
end

return support
