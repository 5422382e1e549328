-- Future AGI client against the sandbox: create/execute/poll/results lifecycle, the
-- evaluating phase, pagination, executions, eval summaries, cancel, errors and quirks.
local t = require "tap"
local support = require "providers_support"
local futureagi = require "evalua.futureagi"

support.run(function()
  local base = support.start()
  local SEEDED = "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"
  local AGENT = "87a193df-12a6-46e1-860d-d18ddb4a00cf"
  local REFUND = "fae7d086-6466-4b40-b21f-13bb7e1d83fe"
  local UNREACHABLE = "7a1e9c3d-5b2f-4d8e-a6c4-9e2b7d1f3a50"
  local DRAFT = "c4b8e2f6-1d3a-4c7e-8f5b-2a9d6e3c1b60"
  local TASK_COMPLETION = "5419b2e4-f155-4f0f-846f-0a3f848a74be"

  local fi = futureagi.connect { base_url = base .. "/fi", api_key = "fi-test-key",
                                 secret_key = "fi-test-secret",
                                 wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" } }

  t.like(tostring(support.error_of(futureagi.connect, { api_key = "k", secret_key = "s", secret = "x" })),
    "unknown option 'secret'", "unknown connect option named")

  -- lifecycle ---------------------------------------------------------------------------

  do
    support.control("config", { run_seconds = 1.5 })
    local events, stop = support.record()
    local run = fi:start(SEEDED)
    t.ok(run.id and run.run_test_id == SEEDED, "execution id is the run id; run test id kept")
    t.is(run.status, "queued", "execute's 'started' is not terminal")
    t.is(support.count(events, "run_started", run.id), 1, "run_started before any wait")
    local seen = {}
    local off = require("evalua.hooks").on("run_status", function(r) seen[r.raw_status] = r.status end)
    run:wait()
    off()
    stop()
    t.is(seen.evaluating, "running", "evaluating is polled through as running")
    t.is(run.status, "completed", "completed")
    t.is(support.count(events, "run_finished", run.id), 1, "run_finished once")
    t.is(support.stats().polls_after_terminal_by_service.futureagi, 0, "no poll after a terminal status")
    run:results()
    t.is(#run.cases, 5, "one case per call (3 refund + 2 escalation)")
    local metrics = 0
    for _, c in ipairs(run.cases) do metrics = metrics + #c.metrics end
    t.is(metrics, 20, "four eval outputs per call, all accounted for")
    local names = run:metric_names()
    table.sort(names)
    t.is_deeply(names, { "conversation_quality", "customer_sentiment", "is_polite", "task_completion" },
      "metric names")
    local broken = run.cases[5]
    t.ok(broken.status == "failed" and broken:passed() == false, "the failing call is a failed case")
    t.like(broken.error, "failed%-to%-connect", "with the call's ended reason")
    t.ok(broken:metric("task_completion").skipped, "its evals are skipped, not failed")
    local rate, _, judged = run:pass_rate("task_completion")
    t.ok(type(rate) == "number" and judged == 4, "pass rate over the four evaluated calls")
    t.ok(#run:scores("conversation_quality") == 4, "score distribution")
    local ok_case = run.cases[1]
    t.like(ok_case.outputs.response, "confirmation by email", "agent's last words from the transcript")
    local summary = run:eval_summary()
    t.is(#summary, 4, "eval summary: one entry per eval config")

    local again = fi:attach(json.decode(json.encode(run:descriptor())))
    again:wait()
    again:results()
    t.ok(again.status == "completed" and #again.cases == 5, "attach from a descriptor")
    support.control("config", { run_seconds = 0.6 })
  end

  -- create from a spec (camelCase keys become snake_case), list, executions, calls -----------

  do
    local run = fi:start({ name = "evalua create " .. tostring(os.time()), agentDefinitionId = AGENT,
                           scenarioIds = { REFUND }, evaluationsConfig = { { templateId = TASK_COMPLETION } } })
    t.ok(run.run_test_id ~= SEEDED, "a create spec is created, then executed")
    run:wait():results()
    t.ok(run.status == "completed" and #run.cases == 3 and #run.cases[1].metrics == 1,
      "created run test runs its one eval")
    local list = fi:list { limit = 1 }
    t.ok(#list >= 2, "list gathers every page")
    local found = false
    for _, rt in ipairs(list) do found = found or rt.id == run.run_test_id end
    t.ok(found, "list includes the new run test")
    local execs = fi:executions(run.run_test_id)
    t.ok(#execs == 1 and execs[1].id == run.id, "executions of the run test")
    t.is(#fi:calls(run.id, { limit = 2 }), 3, "calls: every page")
    t.is(#fi:calls(run.id, { filters = { status = "completed" } }), 3, "calls: filters sent as JSON")
    t.is(fi:get(run.run_test_id).name:sub(1, 15), "evalua create 1", "get a run test")
  end

  do -- an execution whose calls all fail
    local run = fi:start({ name = "evalua unreachable " .. tostring(os.time()), agent_definition_id = AGENT,
                           scenario_ids = { UNREACHABLE } }):wait()
    t.is(run.status, "failed", "every call failed -> failed")
    t.like(run.error, "every call failed", "service's message")
  end

  do -- a newer execution of the same run test: the status endpoint shows that one
    local first = fi:start(SEEDED)
    local second = fi:start(SEEDED)
    first:wait()
    second:wait()
    t.ok(first.status == "completed" and second.status == "completed",
      "each run follows its own execution, not the latest one")
  end

  -- cancel and <close> -------------------------------------------------------------------

  do
    support.control("config", { run_seconds = 5 })
    local desc
    do
      local run <close> = fi:start(SEEDED)
      desc = run:descriptor()
    end
    local run = fi:attach(desc):wait()
    t.is(run.status, "cancelled", "leaving a <close> scope early cancels the execution")
    local other = fi:start(SEEDED)
    t.is(other:cancel(), true, "cancel")
    t.is(other.status, "cancelled", "cancel accepted: the run says cancelled at once")
    local seen = fi:attach(other:descriptor())
    seen.status = "running"
    local p = seen:poll() -- cancelling lasts 0.3 s: on a slow machine it may be over already
    t.ok(p == "cancelled" or (p == "running" and seen.raw_status == "cancelling"),
      "the service says cancelling first (not terminal), then cancelled")
    seen:wait()
    t.is(seen.status, "cancelled", "then cancelled")
    support.control("config", { run_seconds = 0.6 })
  end

  -- errors ---------------------------------------------------------------------------------

  do
    local bad = futureagi.connect { base_url = base .. "/fi", api_key = "nope", secret_key = "nope" }
    local err = support.error_of(bad.list, bad)
    t.ok(err and err.kind == "auth" and err.status == 401 and err.vendor_code == "authentication_failed",
      "401 authentication_failed")
    t.like(tostring(err), "Invalid API key or secret key", "401 message")

    err = support.error_of(fi.get, fi, "00000000-0000-4000-8000-000000000000")
    t.ok(err and err.status == 404 and err.vendor_code == "not_found", "404 not_found")
    t.like(tostring(err), "Run test not found", "404 message")

    err = support.error_of(fi.create, fi, { description = "no name" })
    t.ok(err and err.status == 400, "400 validation error")
    t.like(tostring(err), "name: This field is required", "field errors quoted")

    local draft = fi:create { name = "evalua draft " .. tostring(os.time()), agent_definition_id = AGENT,
                              scenario_ids = { DRAFT } }
    err = support.error_of(fi.start, fi, draft.id)
    t.ok(err and err.status == 400, "execute with a scenario not ready: 400")
    t.like(tostring(err), "not ready", "Scenarios incomplete message")

    local executes = support.requests("POST /fi/simulate/run-tests/{rt}/execute/")
    support.fault { path = "/execute/$", method = "POST", times = 1, status = 502 }
    err = support.error_of(fi.start, fi, SEEDED)
    t.ok(err and err.status == 502, "502 on execute raises")
    t.is(support.requests("POST /fi/simulate/run-tests/{rt}/execute/"), executes + 1,
      "execute is not idempotent: not sent again")

    local run = fi:start(SEEDED)
    support.fault { path = "/status/$", method = "GET", times = 1, status = 500 }
    err = support.error_of(run.poll, run)
    t.ok(err and err.status == 500 and err.vendor_code == "server_error", "500 server_error")
    t.like(tostring(err), "A server error occurred", "500 message")
    run:wait()

    http.configure { retry = false }
    support.control("config", { futureagi_rate_limit = 1 })
    pcall(fi.get, fi, SEEDED)
    err = support.error_of(fi.get, fi, SEEDED)
    t.ok(err and err.status == 429 and err.vendor_code == "RATE_LIMITED", "429 RATE_LIMITED envelope")
    t.like(tostring(err), "Rate limit exceeded", "429 message")
    t.ok(err and err.retry_after ~= nil, "Retry-After kept on the error")
    support.control("config", { futureagi_rate_limit = 0 })
    http.configure { retry = { attempts = 3, backoff = "10ms", max_backoff = "50ms" } }
  end
end)

t.done()
