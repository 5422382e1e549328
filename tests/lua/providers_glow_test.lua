-- Glow client against the sandbox: next/run/get lifecycle (cache bypassed), grading
-- through `end` (own verdict or the service's), the grading loop, the other operations,
-- stop on <close>, errors with Glow's own `detail`.
local t = require "tap"
local support = require "providers_support"
local glow = require "evalua.glow"

local SUPPORT = "b3e1a7c0-0000-4000-8000-000000000001"
local SHOOTOUT = "b3e1a7c0-0000-4000-8000-000000000002"
local MARATHON = "b3e1a7c0-0000-4000-8000-000000000003"

support.run(function()
  local base = support.start()
  local wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" }
  local gl = glow.connect { base_url = base .. "/glow", token = "glow-test-token", wait = wait }

  t.like(tostring(support.error_of(glow.connect, { base_url = base, tokn = "x" })),
    "unknown option 'tokn'", "unknown connect option named")

  -- lifecycle -----------------------------------------------------------------------------

  local test_id = gl:create(SUPPORT)
  t.ok(type(test_id) == "string", "create a test of a benchmark")
  do
    local events, stop = support.record()
    local run = gl:start(test_id)
    t.ok(run.id and run.test_id == test_id and run.invocation_id, "start: next pending run, replayed")
    t.is(run.current_run, 1, "first of the test's runs")
    t.is(support.count(events, "run_started", run.id), 1, "run_started before any wait")
    run:wait() -- a cached `get` would show no progress for 300 s: the poller bypasses the cache
    stop()
    t.is(run.status, "completed", "replay completed")
    t.is(support.count(events, "run_finished", run.id), 1, "run_finished once")
    run:results()
    t.is(support.stats().polls_after_terminal_by_service.glow, 0, "no poll after a terminal status")
    local case = run.cases[1]
    t.is(case.inputs.title, "How do I reset my password?", "the prompt")
    t.like(case.outputs.response, "^%(gpt%-4o%-mini%) Here is a short answer", "the replay's reply")
    t.is(#case.metrics, 0, "not graded yet: no metric")

    local res = run:grade { score = 0.8, passed = true, feedback = "Good enough" }
    t.ok(res.grade_id ~= nil and res.passed == true, "grade: end with the script's verdict")
    t.ok(case:metric("grade").passed == true and case:metric("grade").score == 0.8,
      "the verdict shows on the run at once")
    run:results()
    local m = run.cases[1]:metric("grade")
    t.ok(m.passed == true and m.score == 0.8 and m.reason == "Good enough", "and on the service")

    t.like(tostring(support.error_of(run.grade, run, {})), "needs score, passed, or grade", "empty verdict")
    t.like(tostring(support.error_of(run.grade, run, { passed = "yes" })), "must be a boolean",
      "typed verdict")
    t.like(tostring(support.error_of(run.grade, run, { stars = 5 })), "unknown verdict field 'stars'",
      "unknown verdict field")

    local d = run:descriptor()
    t.ok(d.test_id == test_id and d.invocation_id == run.invocation_id, "descriptor")
    t.ok(not json.encode(d):find("glow-test-token", 1, true), "descriptor carries no token")
    local again = gl:attach(json.decode(json.encode(d))):wait():results()
    t.is(again.cases[1]:metric("grade").passed, true, "attach re-reads the graded run")
  end

  do -- the service grades
    local run = gl:start(test_id):wait()
    local res = run:grade { grade = true }
    t.ok(type(res.score) == "number" and type(res.passed) == "boolean", "grade = true: the service grades")
    t.ok(run.cases[1]:metric("grade").reason ~= nil, "with its feedback")
  end

  -- the custom grading loop ---------------------------------------------------------------

  do
    local marathon = gl:create(MARATHON)
    local seen = 0
    local graded = glow.grade_pending(gl, marathon, function(_, case)
      seen = seen + 1
      local a, b = case.inputs.title:match("What is (%d+) %+ (%d+)%?")
      local right = case.outputs.response:find("The answer is " .. (a + b) .. ".", 1, true) ~= nil
      return { score = right and 1 or 0, passed = right, feedback = right and "correct" or "wrong" }
    end, { concurrency = 3, limit = 7 })
    t.ok(#graded == 7 and seen == 7, "limit: seven runs replayed, waited for and graded")
    local rest = gl:grade_pending(marathon, function() return { passed = true } end)
    t.is(#rest, 3, "then the three left, until none is pending")
    local whole = gl:results(marathon)
    t.is(#whole.cases, 10, "whole test as one Run")
    t.is(whole.status, "completed", "every run completed")
    t.is(whole:pass_rate("grade"), 1.0, "every grade passed")
    t.is(#gl:grade_pending(marathon, function() end), 0, "nothing pending: nothing graded")

    local shootout = gl:create(SHOOTOUT)
    local by_service = gl:grade_pending(shootout, nil, { grade = true, concurrency = 2 })
    t.is(#by_service, 6, "grade = true: the service grades every run")
    local rate = gl:results(shootout):pass_rate("grade")
    t.ok(type(rate) == "number", "pass rate of the service's grades")
    t.like(tostring(support.error_of(gl.grade_pending, gl, shootout)), "grader function expected",
      "a grader is required unless grade = true")

    local buggy = gl:create(SUPPORT)
    local err = support.error_of(gl.grade_pending, gl, buggy, function() error("grader bug") end,
      { concurrency = 2 })
    t.like(tostring(err), "grader bug", "a grader's error is raised")
    local left = gl:results(buggy)
    t.ok(left.cases[3].status == "queued" and #left:metrics("grade") == 0,
      "and stops the loop: no further run replayed, nothing graded")
  end

  -- other operations ------------------------------------------------------------------------

  do
    local all = gl:search()
    t.ok(#all >= 3, "search: every test")
    local page = gl:search { page_size = 1, page_offset = 0 }
    t.ok(#page.tests == 1 and page.total_count >= 3, "search with paging: that page")
    t.is(gl:archive({ test_id }), 1, "archive")
    t.ok(gl:search({ is_archived = true })[1].test_id == test_id, "archived test found")
    t.is(gl:archive({ test_id }, false), 1, "unarchive")
    t.ok(gl:export(test_id).row_count == 3, "export")
    t.ok(gl:get(test_id).test.test_id == test_id, "get")
    t.ok(gl:op("refresh").success, "any other operation")
    local keyed = glow.connect { base_url = base .. "/glow", api_key = "glow-test-token" }
    t.ok(keyed:get(test_id).test, "X-Api-Key authentication")
  end

  do -- stop on <close>
    support.control("config", { run_seconds = 5 })
    local t0 = task.now()
    local desc
    do
      local run <close> = gl:start(gl:create(SUPPORT))
      desc = run:descriptor()
    end
    local run = gl:attach(desc):wait()
    t.ok(run.status == "completed" and task.now() - t0 < 4, "leaving a <close> scope early stops the replay")
    support.control("config", { run_seconds = 0.6 })
  end

  -- errors ---------------------------------------------------------------------------------------

  do
    local bad = glow.connect { base_url = base .. "/glow", token = "wrong" }
    local err = support.error_of(bad.get, bad, test_id)
    t.ok(err and err.kind == "auth" and err.status == 401, "401 with a wrong token")
    t.like(tostring(err), "Missing profile or session", "401 detail")

    err = support.error_of(gl.get, gl, "no-such-test")
    t.ok(err and err.status == 404, "404")
    t.like(tostring(err), "Benchmark test not found", "404 detail")

    err = support.error_of(gl.op, gl, "start", {})
    t.ok(err and err.status == 422 and err.vendor_code == "missing", "422 validation list")
    t.like(tostring(err), "body%.benchmark_id: Field required", "422 detail with its location")

    local done = gl:create(SUPPORT)
    err = support.error_of(gl.grade_pending, gl, done, nil, { grade = true })
    t.is(err, nil, "grading loop over a fresh test")
    err = support.error_of(gl.start, gl, done)
    t.ok(err and err.status == 400, "400 when nothing is pending")
    t.like(tostring(err), "No pending test run found", "400 detail")

    local early = gl:start(gl:create(SUPPORT))
    err = support.error_of(early.grade, early, { passed = true })
    t.like(tostring(err), "once its replay has completed", "grading before the replay ends: 400")
    early:wait()

    support.fault { path = "/get$", method = "POST", times = 1, status = 500 }
    err = support.error_of(gl.get, gl, test_id)
    t.ok(err and err.status == 500, "500")
    t.like(tostring(err), "Internal Server Error", "500 detail")
    support.fault { path = "/get$", method = "POST", times = 1, status = 503 }
    t.ok(gl:get(test_id).test, "a 503 on get (a read) is retried")
    support.fault { path = "/get$", method = "POST", times = 3, status = 429, retry_after = "0" }
    err = support.error_of(gl.get, gl, test_id)
    t.ok(err and err.status == 429, "429 after retries")
    t.like(tostring(err), "Too Many Requests", "429 detail")
  end
end)

t.done()
