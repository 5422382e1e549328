-- Salesforce Agentforce client against the sandbox: lifecycle, hooks, descriptor/attach,
-- the org's run limit, errors with Salesforce's own messages, and its quirks.
local t = require "tap"
local support = require "providers_support"
local agentforce = require "evalua.agentforce"

support.run(function()
  local base = support.start()
  local creds = { base_url = base .. "/sf", client_id = "sandbox-client-id",
                  client_secret = "sandbox-client-secret", queue_interval = "100ms",
                  wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" } }

  local function connect(extra)
    local opts = {}
    for k, v in pairs(creds) do opts[k] = v end
    for k, v in pairs(extra or {}) do opts[k] = v end
    return agentforce.connect(opts)
  end

  local sf = connect()

  -- connect ---------------------------------------------------------------------------

  t.like(tostring(support.error_of(agentforce.connect, { base_url = base, client_secert = "x" })),
    "unknown option 'client_secert'", "unknown connect option named")
  t.like(tostring(support.error_of(connect, { api = "ai-nonsense" })), "api must be", "bad api variant")

  -- lifecycle -------------------------------------------------------------------------

  do
    local events, stop = support.record()
    local run = sf:start("Guest_Experience_Agent")
    t.like(run.id, "^4KB", "ai-evaluations run id")
    t.is(run.status, "queued", "a new run is queued (NEW)")
    t.is(support.count(events, "run_started", run.id), 1, "run_started emitted before any wait")
    t.is(events[1].status, "queued", "run_started sees the fresh run")
    t.is(run:wait(), run, "wait returns the run")
    stop()
    t.is(run.status, "completed", "run completed")
    t.ok(support.count(events, "run_status", run.id) >= 1, "run_status emitted per poll")
    t.is(support.count(events, "run_finished", run.id), 1, "run_finished emitted once")
    t.is(run:poll(), "completed", "poll of a finished run answers without asking")
    run:results()
    t.is(#run.cases, 3, "three cases")
    for _, c in ipairs(run.cases) do
      t.is(c.status, "completed", "case " .. c.name .. " complete: results decided completion")
    end
    t.is_deeply((function()
      local names = {}
      for _, c in ipairs(run:failed_cases()) do names[#names + 1] = c.name end
      return names
    end)(), { "3" }, "case 3 failed")
    t.is(run.cases[3]:metric("bot_response_rating").passed, false, "metricScore FAILED (v63.0)")
    t.is(support.stats().polls_after_terminal_by_service.agentforce, 0, "no poll after a terminal status")

    local d = run:descriptor()
    local encoded = json.encode(d)
    t.ok(not encoded:find("sandbox%-client%-secret") and not encoded:find("Bearer"),
      "descriptor carries no secret")
    t.ok(d.provider == "agentforce" and d.id == run.id and d.definition == "Guest_Experience_Agent",
      "descriptor names provider, id and definition")
    local again = sf:attach(json.decode(encoded))
    again:wait()
    again:results()
    t.ok(again.status == "completed" and #again.cases == 3, "attach re-reads a run from its descriptor")
    t.like(tostring(support.error_of(sf.attach, sf, { provider = "kapso", id = "x" })),
      "a kapso run cannot be attached by a agentforce client", "attach refuses another provider's run")
  end

  do -- newer API version: result/score generation
    local run = connect({ api_version = "v64.0" }):start("Billing_Agent_Regressions"):wait():results()
    t.is(#run.cases, 4, "v64.0: four cases")
    local m = run.cases[2].metrics[1]
    t.ok(m.passed == false and type(m.score) == "number", "v64.0: result FAILURE with a score")
    t.is(#run:failed_cases(), 2, "v64.0: cases 2 and 3 fail")
  end

  do -- quirks of the newer generation, live
    local run = connect({ api_version = "65.0" }):start("Local_Info_Agent_Quirks"):wait():results()
    local museum = run.cases[#run.cases]
    t.is(museum.inputs.utterance, "What's on at the museum & gallery this weekend?", "utterance decoded")
    t.is_deeply(museum.outputs.actions, { "Get_Local_Events", "Summarize_Events" },
      "entity-encoded actionsSequence string")
    local latency = museum:metric("output_latency_milliseconds")
    t.ok(latency.passed == nil and latency.score == 1873, "result null: a score, no verdict")
    t.like(museum:metric("conciseness").reason, "name & dates", "explainability decoded")
  end

  do -- a run that ends in ERROR
    local run = sf:start("Broken_Agent_Run_Error"):wait():results()
    t.is(run.status, "error", "ERROR run -> error")
    t.like(run.error, "has no active version", "run error message")
    t.is(run.cases[2].status, "error", "unfinished cases of an ERROR run are errors")
    t.is(run:passed(), false, "an errored run did not pass")
  end

  do -- a case that ends in ERROR
    local run = sf:start("Travel_Agent_Case_Error"):wait():results()
    local c = run.cases[2]
    t.ok(c.status == "error" and c.error ~= nil, "ERROR case with its errorMessage")
    t.is(c.outputs.actions, nil, "empty generatedData")
  end

  do -- the newer ai-testing API
    local run = connect({ api = "ai-testing" }):start("Order_Support_All_Pass"):wait():results()
    t.like(run.id, "^3A2", "ai-testing run id")
    t.is(run.status, "completed", "SUCCESS -> completed")
    t.ok(#run.cases == 3 and run:passed() == true, "scorer verdicts parsed from JSON strings")
  end

  -- the org's limit of runs in progress -------------------------------------------------

  do
    support.control("config", { max_in_progress = 1, run_seconds = 0.6 })
    local first = sf:start("Order_Support_All_Pass")
    local t0 = task.now()
    local second = sf:start("Order_Support_All_Pass")
    t.ok(task.now() - t0 > 0.3, "a start over the org's limit waits for a free slot")
    t.ok(second.id ~= first.id, "then starts")
    local third_err = support.error_of(function()
      return connect({ queue_timeout = "200ms" }):start("Order_Support_All_Pass")
    end)
    t.ok(third_err and third_err.kind == "timeout", "waiting for a slot is bounded (timeout error)")
    t.like(tostring(third_err), "free test slot", "timeout says what it waited for")
    first:wait()
    second:wait()
    support.control("config", { max_in_progress = 10, run_seconds = 0.6 })
  end

  -- cancel and <close> ----------------------------------------------------------------

  do
    support.control("config", { run_seconds = 5 })
    local desc
    do
      local run <close> = sf:start("Order_Support_All_Pass")
      desc = run:descriptor()
    end
    local run = sf:attach(desc)
    run:wait()
    t.is(run.status, "cancelled", "leaving a <close> scope early cancels the run (TERMINATED)")
    local other = sf:start("Order_Support_All_Pass")
    t.is(other:cancel(), true, "cancel asks the service")
    other:wait()
    t.ok(other.status == "cancelled" and other:cancel() == false, "cancel of a finished run is a no-op")

    local slow = sf:start("Order_Support_All_Pass")
    local err = support.error_of(slow.wait, slow, { timeout = "300ms" })
    t.ok(err and err.kind == "timeout", "wait timeout is a timeout error")
    t.is(err and err.last, slow, "the timeout error carries the run")
    t.like(tostring(err), "agentforce run " .. slow.id, "and names it")
    slow:cancel()
    support.control("config", { run_seconds = 0.6 })
  end

  -- statuses ----------------------------------------------------------------------------

  do
    local run = sf:start("Order_Support_All_Pass")
    poll.wait(function() return run:poll() == "running" end, { interval = "50ms" })
    support.fault { path = "/runs/" .. run.id .. "$", method = "GET", times = 1,
                    status = 200, body = { status = "RETRY" } }
    t.is(run:poll(), "running", "an unknown status counts as still running")
    support.fault { path = "/runs/" .. run.id .. "$", method = "GET", times = 1,
                    status = 200, body = { status = "InProgress" } }
    t.is(run:poll(), "running", "statuses compared case-insensitively")
    support.fault { path = "/runs/" .. run.id .. "$", method = "GET", times = 1,
                    status = 200, body = { status = "COMPLETED" } }
    t.is(run:poll(), "running", "status COMPLETED while the results are IN_PROGRESS: still running")
    run:wait()
    t.is(run.status, "completed", "and the run still completes")
  end

  -- errors --------------------------------------------------------------------------------

  do
    local err = support.error_of(sf.start, sf, "No_Such_Definition")
    t.like(tostring(err), "no test definition named No_Such_Definition", "unknown definition named")
    t.ok(err.status == 500 and err.vendor_code == "INTERNAL_SERVER_ERROR"
      and err.vendor_message == "Invalid AiEvalDefinitionVersion identifier", "vendor's code and text kept")

    local bad = agentforce.connect { base_url = base .. "/sf", client_id = "sandbox-client-id",
                                     client_secret = "wrong-secret" }
    err = support.error_of(bad.start, bad, "Order_Support_All_Pass")
    t.ok(err and err.kind == "auth", "bad client secret: auth error")
    t.like(tostring(err), "invalid client credentials", "token endpoint's own words")
    t.ok(not tostring(err):find("wrong-secret", 1, true), "secret not in the error")

    local ghost = sf:attach { provider = "agentforce", id = "4KBSM00000000ZZZAA", api = "ai-evaluations",
                              api_version = "63.0" }
    err = support.error_of(ghost.poll, ghost)
    t.ok(err and err.status == 404 and err.vendor_code == "NOT_FOUND", "unknown run: 404 NOT_FOUND")
    t.like(tostring(err), "The requested resource does not exist", "Salesforce's message")

    support.fault { path = "/ai-evaluations/runs$", method = "POST", times = 1, status = 400,
                    body = { { errorCode = "INVALID_INPUT", message = "Definition is inactive" } } }
    err = support.error_of(sf.start, sf, "Order_Support_All_Pass")
    t.ok(err and err.status == 400 and err.vendor_code == "INVALID_INPUT", "400 INVALID_INPUT")
    t.like(tostring(err), "Definition is inactive", "400 message")

    support.fault { path = "/ai-evaluations/runs$", method = "POST", times = 5, status = 429,
                    retry_after = "0",
                    body = { { errorCode = "REQUEST_LIMIT_EXCEEDED", message = "TotalRequests Limit exceeded." } } }
    err = support.error_of(sf.start, sf, "Order_Support_All_Pass")
    t.ok(err and err.status == 429 and err.vendor_code == "REQUEST_LIMIT_EXCEEDED",
      "429 REQUEST_LIMIT_EXCEEDED is not the run queue")
    t.like(tostring(err), "TotalRequests Limit exceeded", "429 message")

    local run = sf:start("Order_Support_All_Pass")
    support.fault { path = "/runs/" .. run.id .. "$", method = "GET", times = 1, status = 503 }
    t.is(run:poll(), run.status, "one 503 on a poll is retried")
    support.fault { path = "/runs/" .. run.id .. "$", method = "GET", times = 5, status = 503 }
    err = support.error_of(run.poll, run)
    t.ok(err and err.status == 503 and err.vendor_code == "SERVER_UNAVAILABLE", "503 after retries")
    t.like(tostring(err), "Server temporarily unavailable", "503 message")
    support.fault { path = "/runs/" .. run.id .. "/results$", method = "GET", times = 1, status = 500 }
    err = support.error_of(run.wait, run)
    t.ok(err and err.status == 500 and err.kind == "http", "500 on results raises")
    run:wait()

    local tokens = support.requests("POST /sf/services/oauth2/token")
    support.control("expire-tokens", {})
    local fresh = sf:start("Order_Support_All_Pass")
    t.ok(fresh.id and support.requests("POST /sf/services/oauth2/token") == tokens + 1,
      "an expired token (401 INVALID_SESSION_ID) is refreshed and the call replayed")
    fresh:cancel()
  end
end)

t.done()
