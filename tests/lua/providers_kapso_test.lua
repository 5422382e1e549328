-- Kapso client against the sandbox: suites, cases, run lifecycle, the script-chosen pass
-- mark, test chats, no cancel, errors with Kapso's own messages.
local t = require "tap"
local support = require "providers_support"
local kapso = require "evalua.kapso"

local AGENT = "a9e70000-0000-4000-8000-000000000001"
local GREETING = "ca5e0000-0000-4000-8000-000000000001"
local ESCALATION = "ca5e0000-0000-4000-8000-000000000003"
local REFUND = "ca5e0000-0000-4000-8000-000000000004"

support.run(function()
  local base = support.start()
  local opts = { base_url = base .. "/kapso/api/v1", api_key = "kapso-test-key",
                 wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" } }
  local ks = kapso.connect(opts)

  t.like(tostring(support.error_of(kapso.connect, { api_key = "k", threshold = 8 })),
    "unknown option 'threshold'", "unknown connect option named")

  -- lifecycle ---------------------------------------------------------------------------

  do
    local events, stop = support.record()
    local run = ks:start(GREETING)
    t.ok(run.id and run.test_case_id == GREETING, "run of a test case")
    t.ok(run.status == "running" or run.status == "queued", "not finished right after start")
    t.is(support.count(events, "run_started", run.id), 1, "run_started before any wait")
    run:wait()
    stop()
    t.is(run.status, "completed", "execution_completed + ended_at -> completed")
    t.is(support.count(events, "run_finished", run.id), 1, "run_finished once")
    run:results()
    local m = run.cases[1]:metric("score")
    t.ok(m.score >= 8 and m.score <= 10, "score on the service's scale")
    t.like(m.reason, "performed well", "feedback as the reason")
    t.is(m.passed, nil, "no pass mark chosen: no verdict")
    t.is(run:pass_rate(), nil, "and no pass rate")
    t.is(run.cases[1].outputs.response, "Of course - here is what I can tell you.", "agent's last reply")
    t.is(run:results { pass_score = 8 }.cases[1]:metric("score").passed, true,
      "results{pass_score = 8}: passed")
    t.is(run:results { pass_score = 11 }:passed(), false, "results{pass_score = 11}: failed")
    t.is(support.stats().polls_after_terminal_by_service.kapso, 0, "no poll after a terminal run")

    local d = run:descriptor()
    t.ok(d.test_case_id == GREETING and d.pass_score == 11, "descriptor keeps case and pass mark")
    t.ok(not json.encode(d):find("kapso-test-key", 1, true), "descriptor carries no key")
    local again = ks:attach(json.decode(json.encode(d))):wait():results()
    t.ok(again.status == "completed" and again:passed() == false, "attach re-reads the run")
  end

  do
    local strict = kapso.connect { base_url = opts.base_url, api_key = "kapso-test-key", pass_score = 7,
                                   wait = opts.wait }
    local weak = strict:start(REFUND):wait():results()
    t.is(weak:passed(), false, "connect{pass_score = 7}: a weak score fails")
    local good = strict:start(GREETING, { pass_score = 9.99 }):wait()
    t.ok(good.pass_score == 9.99, "start{pass_score} overrides the client's")
  end

  do
    local run = ks:start(ESCALATION):wait()
    t.is(run.status, "error", "error object -> error")
    t.like(run.error, "stopped responding", "Kapso's error message")
    t.is(run:passed(), false, "an errored run did not pass")
  end

  do -- Kapso has no cancel call
    local run = ks:start(GREETING)
    t.like(tostring(support.error_of(run.cancel, run)), "cannot be cancelled", "cancel is refused")
    do
      local scoped <close> = ks:start(GREETING)
      t.ok(scoped.id, "a <close> run without cancel leaves quietly")
    end
    run:wait()
  end

  -- suites, cases, chats -------------------------------------------------------------------

  do
    local before = support.requests("/test_suites")
    local suites = ks:suites(AGENT)
    t.ok(#suites >= 2 and suites[1].test_cases ~= nil and support.requests("/test_suites") == before + 1,
      "suites: one request (the list has no paging), with their cases")
    t.is(ks:get_suite(suites[1].id).id, suites[1].id, "get_suite: GET /test_suites/{id}")
    local suite = ks:create_suite { name = "evalua suite", description = "made by a test", agent_id = AGENT }
    t.ok(suite.id and suite.name == "evalua suite", "create_suite unwraps data")
    local case = ks:create_case(suite.id, { name = "Hello", script = "Say hello", rubric = "Polite" })
    t.is(case.test_suite_id, suite.id, "create_case")
    t.is(ks:get_case(case.id).rubric, "Polite", "get_case")
    t.is(ks:update_case(case.id, { rubric = "Very polite" }).rubric, "Very polite", "update_case")
    local run = ks:start(case.id):wait()
    t.ok(run:done(), "a new case runs")

    local chat = ks:chat { agent_id = AGENT, message = "Hello there" }
    t.is(chat.status, "processing", "test chat starts processing")
    chat = ks:wait_chat(chat.id)
    t.is(chat.status, "completed", "wait_chat waits for the answer")
    t.is(chat.conversation[#chat.conversation].role, "assistant", "the agent answered")
    local more = ks:chat { agent_id = AGENT, message = "And again", chat_id = chat.id }
    t.is(more.id, chat.id, "chat_id continues a chat")
    ks:wait_chat(more.id)
    local resumed = ks:resume_chat(chat.id, { message_from_manager = "Send a reminder" })
    t.is(resumed.status, "processing", "resume_chat: the completed chat continues")
    local after = ks:wait_chat(chat.id)
    t.is(after.conversation[#after.conversation].role, "assistant", "and the agent answers the payload")
  end

  do -- the client sends run_now explicitly: the API's default is false (created, not run)
    local run = ks:start(GREETING):wait()
    t.ok(run:done() and run.status == "completed", "a started run is executed")
    local err = support.error_of(ks.get_case, ks, "ca5e0000-0000-4000-8000-00000000dead")
    t.ok(err and err.status == 404 and err.vendor_code == "Test case not found", "404 with Kapso's {error, status, message}")
  end

  -- errors -----------------------------------------------------------------------------------

  do
    local bad = kapso.connect { base_url = opts.base_url, api_key = "wrong" }
    local err = support.error_of(bad.start, bad, GREETING)
    t.ok(err and err.kind == "auth" and err.status == 401, "401 with a wrong key")
    t.like(tostring(err), "Invalid or missing API key", "401 message")

    err = support.error_of(ks.start, ks, "00000000-0000-4000-8000-000000000000")
    t.ok(err and err.status == 404, "404 unknown test case")
    t.like(tostring(err), "Test case not found", "404 message")

    err = support.error_of(ks.create_suite, ks, { name = "", agent_id = AGENT })
    t.ok(err and err.status == 422 and err.vendor_code == "Validation failed", "422 validation")
    t.like(tostring(err), "Name can't be blank", "422 message")

    err = support.error_of(ks.chat, ks, { agent_id = AGENT, message = "x", chat_id = "no-such-chat" })
    t.like(tostring(err), "Test chat not found", "chat errors too")

    support.fault { path = "/test_runs$", method = "POST", times = 1, status = 400,
                    body = { error = "Invalid parameters", message = "run_now must be true or false" } }
    err = support.error_of(ks.start, ks, GREETING)
    t.ok(err and err.status == 400 and err.vendor_code == "Invalid parameters", "400")
    t.like(tostring(err), "run_now must be true or false", "400 message")

    local run = ks:start(GREETING)
    support.fault { path = "/test_runs/", method = "GET", times = 1, status = 503 }
    t.ok(run:poll(), "one 503 on a poll is retried")
    support.fault { path = "/test_runs/", method = "GET", times = 1, status = 500 }
    err = support.error_of(run.poll, run)
    t.ok(err and err.status == 500, "500")
    t.like(tostring(err), "Internal server error", "500 message")
    run:wait()

    http.configure { retry = false }
    support.control("config", { kapso_rate_limit = 1 })
    support.control("reset", { keep_config = true })
    pcall(ks.get_case, ks, GREETING)
    err = support.error_of(ks.get_case, ks, GREETING)
    t.ok(err and err.status == 429 and err.retry_after == "60", "429 with Retry-After: 60")
    t.like(tostring(err), "You have exceeded 1 requests per minute", "429 message")
    support.control("config", { kapso_rate_limit = 100000 })
    http.configure { retry = { attempts = 3, backoff = "10ms", max_backoff = "50ms" } }
  end
end)

t.done()
