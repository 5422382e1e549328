-- Salesforce conversation-level tests against the sandbox: saved suites (start, poll,
-- results, descriptor/attach, the journal) and ephemeral runs (sf:converse), one case per
-- conversation with its turns as the transcript; a goal not reached, an agent failing
-- mid-conversation and rejected input are never a pass.
local t = require "tap"
local support = require "providers_support"
local agentforce = require "evalua.agentforce"
local journal = require "evalua.journal"

-- The sandbox's published agent and draft (tests/sandbox/agentforce_conversation.py).
local AGENT = { agent_id = "0XxSM00000000010AA", agent_version_id = "0X9SM00000000010AA" }
local DRAFT = { project_id = "1PjSM00000000010AA", project_version_id = "1PvSM00000000010AA" }

local function spec(fields, target)
  local s = {}
  for k, v in pairs(target or AGENT) do s[k] = v end
  for k, v in pairs(fields) do s[k] = v end
  return s
end

support.run(function()
  local base = support.start { run_seconds = 0.6 }
  local sf = agentforce.connect { base_url = base .. "/sf", client_id = "sandbox-client-id",
    client_secret = "sandbox-client-secret", api_version = "66.0",
    wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" } }

  do -- a saved suite: start, wait, results
    local events, stop = support.record()
    local run = sf:start_conversation(spec { name = "Password_Suite", max_turns = 6, persona = "FRUSTRATED",
      cases = { { goal = "Reset my password", context = { CustomerName = "Jo" } },
                { goal = "Get a refund for order 00123",
                  scorers = { "task_resolution", { name = "acceptance_criteria", expected = "The agent refunds the order" } } } } })
    t.like(run.id, "^1Ws", "the run is its worksheet")
    t.like(run.workbook_id, "^1Wb", "the suite is saved as a workbook")
    t.is(#run.row_ids, 2, "one row per case")
    t.is(run.status, "queued", "a new run is queued (New)")
    t.is(support.count(events, "run_started", run.id), 1, "run_started before any wait")
    run:wait()
    stop()
    t.ok(run.status == "completed" and support.count(events, "run_finished", run.id) == 1,
      "the run completed; run_finished once")
    run:results()
    t.is(#run.cases, 2, "one case per conversation")
    local reset, refund = run.cases[1], run.cases[2]
    t.is(reset.inputs.goal, "Reset my password", "the case carries its goal")
    t.is(reset.inputs.context_variables.CustomerName, "Jo", "... and its context variables")
    t.like(reset.id, "^1Wr", "the case is its row")
    t.is(#reset.outputs.transcript, 6, "three exchanges: six turns in the transcript")
    t.is(reset.outputs.transcript[1].role, "user", "the simulated caller speaks first")
    t.is(reset.outputs.transcript[2].role, "assistant", "the agent's turns are the assistant's")
    t.like(reset.outputs.transcript[2].content, "^Hi Jo!", "the context variable reached the agent")
    t.is(reset.outputs.response, "Thanks. Your password is reset: you can log in now.", "response: the agent's last words")
    t.is_deeply(reset.outputs.actions, { "Send_Verification_Code", "Verify_Code", "Reset_Password" }, "the actions in order")
    t.is_deeply(reset.outputs.topics, { "Account_Access" }, "the topics")
    t.is(reset.outputs.completion_reason, "GOAL_REACHED", "completion reason")
    local tr = reset:metric("evaluator.task_resolution")
    t.ok(tr and tr.passed == true and tr.score == 5 and tr.label == "Task Resolution Evaluation",
      "task_resolution (the default scorer) passed, 0-5 score, display name as label")
    t.is(reset:passed(), true, "the conversation that reached its goal passes")
    t.is(refund:passed(), false, "a conversation whose goal was not reached fails")
    t.is(refund.outputs.completion_reason, "MAX_TURNS_REACHED", "... it ran out of turns")
    t.is(#refund.outputs.transcript, 12, "... all six turns of the budget were used")
    t.is(refund:metric("evaluator.acceptance_criteria").passed, false, "the acceptance criteria failed too")
    t.is(run:passed(), false, "a suite with a failed conversation does not pass")
    t.is(run.total_cases, 2, "total_cases from the summary")
    t.is(support.stats().polls_after_terminal_by_service.agentforce, 0, "no poll after a terminal status")
    t.is(run:poll(), "completed", "a finished run answers a poll without asking")
    local counts = support.stats().runs.agentforce
    t.ok(counts.started == 1 and counts.terminal == 1, "the sandbox counts the saved run, terminal")

    local d = run:descriptor()
    t.ok(d.kind == "conversation" and d.id == run.id and d.suite == "Password_Suite" and d.goals[2].goal
      == "Get a refund for order 00123", "the descriptor says what to re-attach to, goals included")
    local again = sf:attach(json.decode(json.encode(d)))
    again:wait()
    again:results()
    t.ok(again.status == "completed" and #again.cases == 2 and again.cases[1].inputs.goal == "Reset my password"
      and again.cases[2]:passed() == false, "attach re-reads a conversation run, with its goals")
    t.like(tostring(support.error_of(run.cancel, run)), "cannot be cancelled",
      "cancel says the service has no cancel call for it")
  end

  do -- results while the run goes on are partial; a draft agent is a target too
    local run = sf:start_conversation(spec({ name = "Draft_Suite",
      cases = { { goal = "Reset my password" }, { goal = "Book a table for two." } } }, DRAFT))
    run:results()
    t.ok(not run:done() and run:passed() == nil, "a running run has no verdict")
    run:wait():results()
    t.ok(run:passed() == true and #run.cases == 2, "the draft's conversations both reached their goals")
  end

  do -- a goal beyond the turn budget is not reached
    local run = sf:start_conversation(spec { name = "Short", max_turns = 2, cases = { { goal = "Reset my password" } } })
    run:wait():results()
    local c = run.cases[1]
    t.ok(c:passed() == false and c.outputs.completion_reason == "MAX_TURNS_REACHED" and #c.outputs.transcript == 4,
      "max_turns = 2 stops a three-exchange conversation: failed")
  end

  do -- the agent fails mid-conversation: the run fails, the case errs, nothing passes
    local run = sf:start_conversation(spec { name = "Crash", cases = { { goal = "crash the agent" }, { goal = "Say hello." } } })
    run:wait():results()
    t.is(run.status, "failed", "the run ended Failed")
    t.like(run.error, "agent failed", "with Salesforce's message")
    t.is(run.cases[1].status, "error", "the conversation that broke is an error")
    t.like(run.cases[1].error, "LimitException", "... saying why")
    t.is(run.cases[1]:metric("evaluator.task_resolution").passed, nil, "a scorer status ERROR is no verdict")
    t.like(run.cases[1]:metric("evaluator.task_resolution").error, "stopped responding", "... and says why")
    t.is(run:passed(), false, "a Failed run never passes, even with a passing conversation")
  end

  do -- ephemeral runs: one synchronous request, nothing saved
    local events, stop = support.record()
    local run = sf:converse(spec { max_turns = 4, simulation = true,
      cases = { { goal = "Reset my password", surface = "Messaging" }, { goal = "I want a refund" } } })
    stop()
    t.ok(run:done() and run.status == "completed", "converse returns the finished run")
    t.like(run.id, "^ephemeral%-", "an ephemeral run has no Salesforce id: evalua names it")
    t.is(support.count(events, "run_started", run.id), 1, "it is journalled like any run")
    t.is(support.count(events, "run_finished", run.id), 1, "... and finished at once")
    t.ok(run.cases[1]:passed() == true and run.cases[2]:passed() == false, "its conversations are judged the same way")
    t.is(run:wait(), run, "wait returns at once")
    t.is(run:results(), run, "results are already there")
    t.is(#run.cases, 2, "... and stay")
    t.is(support.requests("ephemeral-run"), 1, "one request in all")
    t.like(tostring(support.error_of(sf.attach, sf, run:descriptor())), "ephemeral: Salesforce saved nothing",
      "an ephemeral run cannot be re-attached")
    local rejected = support.error_of(sf.converse, sf, spec { cases = { { goal = "x",
      scorers = { "made_up_scorer" } } } })
    t.ok(rejected and rejected.kind == "config", "input Salesforce rejects (200, status Failed, no cases) is a config error")
    t.like(tostring(rejected), "rejected the conversation test: Test case 1: unknown scorer \"made_up_scorer\"",
      "... quoting Salesforce's message")
    local unknown = support.error_of(sf.converse, sf, spec({ cases = { { goal = "x" } } },
      { agent_id = "0XxSM000000000ZZZZ", agent_version_id = "0X9SM00000000010AA" }))
    t.like(tostring(unknown), "No agent found for agentId 0XxSM000000000ZZZZ", "an unknown agent is named")
    t.is(support.requests("ephemeral-run"), 3, "each rejection was one request, not retried")
  end

  do -- transient failures, unknown statuses, results that lag the status
    local run = sf:start_conversation(spec { name = "Faults", cases = { { goal = "Say hello." } } })
    -- The next GET of the run's status (or, with a suffix, results): `body`, or a 503.
    local function answer_once(body, suffix)
      support.fault { path = "/conversation-tests/runs/" .. run.id .. (suffix or "") .. "$", method = "GET",
                      times = 1, status = body and 200 or 503, body = body }
    end
    answer_once(nil)
    t.is(run:poll(), "queued", "one 503 on a status poll is retried")
    answer_once { status = "Evaluating" }
    t.is(run:poll(), "running", "a status Salesforce added later counts as still running")
    answer_once { status = "Completed" }
    answer_once({ status = "InProgress", testCases = {} }, "/results")
    t.is(run:poll(), "running", "status Completed while the results say InProgress: still running")
    t.ok(run:wait():results():passed() == true, "... then the results decide: completed and passed")

    local before = support.requests("ephemeral-run")
    support.fault { path = "/conversation-tests/ephemeral-run$", method = "POST", times = 1, status = 502 }
    local err = support.error_of(sf.converse, sf, spec { cases = { { goal = "Say hello." } } })
    t.ok(err and err.kind == "http" and err.status == 502, "a 502 on converse is an infrastructure error (exit 4)")
    t.is(support.requests("ephemeral-run") - before, 1, "... and the run is not sent again: it may have started")
    support.fault { path = "/conversation-tests/ephemeral-run$", method = "POST", times = 1, status = 200,
                    body = { status = "InProgress", testCases = {} } }
    err = support.error_of(sf.converse, sf, spec { cases = { { goal = "Say hello." } } })
    t.ok(err and err.kind == "protocol", "an ephemeral answer that is not a finished run is a protocol error")
    t.like(tostring(err), "answered status InProgress, not a finished run", "... saying what came back")
  end

  do -- a saved start Salesforce refuses
    local err = support.error_of(sf.start_conversation, sf, spec { name = "Bad",
      cases = { { goal = "x", scorers = { { name = "acceptance_criteria" } } } } })
    t.ok(err and err.kind == "config" and err.status == 400, "400 INVALID_INPUT is a config error (exit 2)")
    t.like(tostring(err), "acceptance_criteria requires an expectedValue", "... with Salesforce's message")
  end

  do -- bad arguments are blamed on the caller's line
    local function raises(s, pattern, what)
      local err = support.error_of(sf.start_conversation, sf, s)
      t.like(tostring(err), pattern, what)
    end
    raises(nil, "give agent_id and agent_version_id", "no agent at all")
    raises(spec { cases = { { goal = "x" } } }, "name %(of the test suite to save%) is required", "a saved suite needs a name")
    raises(spec { name = "S", cases = {} }, "cases must be a non%-empty list", "no cases")
    raises(spec { name = "S", cases = { { gaol = "x" } } }, "cases%[1%]: unknown field 'gaol'", "a typo in a case")
    raises(spec { name = "S", cases = { { goal = "" } } }, "cases%[1%]%.goal must be a non%-empty string", "an empty goal")
    raises(spec { name = "S", max_turns = 0, cases = { { goal = "x" } } }, "max_turns", "max_turns must count")
    raises(spec { name = "S", agent_id = "only", agent_version_id = false, cases = { { goal = "x" } } },
      "agent_version_id", "agent_version_id of the wrong kind")
    raises(spec({ name = "S", agent_id = "a", cases = { { goal = "x" } } }, DRAFT), "or project_id", "two targets")
    t.like(tostring(support.error_of(sf.converse, sf, spec { name = "S", cases = { { goal = "x" } } })),
      "name is for saved suites", "converse saves no suite: no name")
    t.like(tostring(support.error_of(function() sf:start_conversation(spec { name = "S" }) end)),
      "providers_agentforce_conversation_test%.lua:%d+: bad argument #1 to 'start_conversation'",
      "the error names the caller's line and the function")
  end

  do -- the journal records a conversation run; resume's attach finds it again
    local path = os.tmpname()
    os.remove(path)
    local j = journal.open(path)
    local off = j:listen()
    local run = sf:start_conversation(spec { name = "Journalled", cases = { { goal = "Say hello." } } })
    sf:converse(spec { cases = { { goal = "Say hello." } } })
    off()
    local pending = journal.unfinished(path)
    t.ok(#pending == 1 and pending[1].run.id == run.id and pending[1].run.kind == "conversation",
      "the journal holds the saved run unfinished (the ephemeral one finished at once)")
    local resumed = sf:attach(pending[1].run):wait():results()
    t.ok(resumed.cases[1]:passed() == true and resumed.cases[1].inputs.goal == "Say hello.",
      "a run re-attached from the journal is judged with its goal")
    os.remove(path)
  end
end)

t.done()
