-- Glow's current API (`glow.connect{api = "test"}`, POST {base}/test/<op>) against the
-- sandbox's /test mount: start -> get/trace/generate/run/ -> get -> grade with an
-- idempotency key, stop; and what must never pass: a refused grade, a retried grade
-- counted twice, a replay that never ends.
local t = require "tap"
local shell = require "shell"
local support = require "providers_support"
local errors = require "evalua.errors"
local fixture = require "glow_fixtures"
local glow = require "evalua.glow"

local SUPPORT = "b3e1a7c0-0000-4000-8000-000000000001"
local SUPPORT_EVAL = "e7a10000-0000-4000-8000-000000000001"
local MARATHON = "b3e1a7c0-0000-4000-8000-000000000003"

support.run(function()
  local base = support.start()
  local wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" }
  local function connect(api, extra)
    local opts = { base_url = base .. "/glow", token = "glow-test-token", wait = wait, api = api }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return glow.connect(opts)
  end
  local gl = connect("test")

  -- the option -----------------------------------------------------------------------------

  local function connect_v6()
    local c = glow.connect { base_url = base, token = "x", api = "v6" } -- the line blamed
    return c
  end
  local err = support.error_of(connect_v6)
  t.like(tostring(err), "bad argument #1 to 'glow.connect' %(api must be \"v5\" or \"test\", got \"v6\"%)",
    "an unknown api is a bad argument naming the allowed values")
  t.like(tostring(err), "glow_testapi_test.lua:%d+:", "at the caller's line")
  t.like(tostring(support.error_of(glow.connect, { base_url = base, token = "x", api = 5 })),
    "api must be a non%-empty string", "api of the wrong kind")
  t.is(connect(nil).api, "v5", "the seed's v5 layout stays the default")

  -- lifecycle on the /test mount ----------------------------------------------------------------

  -- The sandbox answers with the fields of Glow's documents (tests/fixtures/glow/SOURCES.txt).
  local function same_fields(got, want, label)
    local missing, extra = {}, {}
    for k in pairs(want) do if got[k] == nil then missing[#missing + 1] = k end end
    for k in pairs(got) do if want[k] == nil then extra[#extra + 1] = k end end
    table.sort(missing)
    table.sort(extra)
    t.ok(#missing == 0 and #extra == 0, label .. ": the fields of Glow's document")
    if #missing + #extra > 0 then t.diag("missing: " .. table.concat(missing, ", ") .. "; extra: " .. table.concat(extra, ", ")) end
  end

  local v5_before = support.requests("/api/v5/")
  local test_id, started = gl:create(SUPPORT)
  t.ok(type(test_id) == "string", "create: /test/start")
  same_fields(started, fixture("test_start.json"), "start's answer, returned whole by create")
  t.ok(type(gl:create(SUPPORT_EVAL, { eval = true })) == "string", "create { eval = true }: start by eval_id")
  t.like(tostring(support.error_of(connect("v5").create, connect("v5"), SUPPORT, { eval = true })),
    "eval = true needs glow.connect{api = \"test\"}", "eval = true on v5 is a bad argument")

  local events, stop = support.record()
  local run = gl:start(test_id)
  stop()
  t.ok(run.id and run.invocation_id and run.trace_id and run.binding_id, "start: a Run with trace and binding ids")
  t.ok(run.current_run == 1 and run.total_runs == 3, "first of the test's three runs")
  t.is(support.count(events, "run_started", run.id), 1, "run_started before any wait")
  t.ok(support.requests("/glow/test/trace") == 1 and support.requests("/glow/test/generate") == 1
    and support.requests("/glow/test/run/") == 1, "one trace, one generate, one run/ binding")
  t.is(support.requests("<redirect slash>"), 0, "run/ is sent to its canonical path (no 307)")
  run:wait()
  t.is(run.status, "completed", "the replay completed")
  run:results()
  local case = run.cases[1]
  t.is(case.inputs.title, "How do I reset my password?", "the prompt")
  t.like(case.outputs.response or "", "^%(gpt%-4o%-mini%) Here is a short answer", "the reply, by text id")
  t.is(case.outputs.chat_id, run.invocation_id, "chat_id is the invocation id")
  t.is(support.requests("/api/v5/"), v5_before, "nothing went to the v5 layout")

  -- grading --------------------------------------------------------------------------------------

  local function grades_of(invocation_id)
    local n = 0
    for _, g in ipairs(gl:get(test_id).entries.grades) do
      if g.invocation_id == invocation_id then n = n + 1 end
    end
    return n
  end

  for _, bad in ipairs {
    { { score = 0.8 }, "whole rubric points: score must be an integer, got 0.8" },
    { { passed = true }, "needs a score" },
    { { grade = true }, "has no grade = true" },
  } do
    t.like(tostring(support.error_of(run.grade, run, bad[1])), bad[2], "api test verdict: " .. bad[2])
  end

  -- A refused grade does not count: no metric, nothing on the service.
  err = support.error_of(run.grade, run, { score = 11 })
  t.ok(errors.is(err) and err.status == 400, "a score above the rubric's maximum: 400")
  t.like(tostring(err), "Score 11 exceeds maximum of 10", "with Glow's own words")
  t.is(#run.cases[1].metrics, 0, "a refused grade leaves the run ungraded")
  support.fault { path = "^/glow/test/grade$", method = "POST", times = 1, status = 500 }
  err = support.error_of(run.grade, run, { score = 8 })
  t.ok(errors.is(err) and err.status == 500 and #run.cases[1].metrics == 0, "a 500 on grade: error, ungraded")
  support.fault { path = "^/glow/test/grade$", method = "POST", times = 1, status = 200,
                  body = { success = false, grade_id = "g-0" } }
  err = support.error_of(run.grade, run, { score = 8 })
  t.ok(errors.is(err, "protocol") and #run.cases[1].metrics == 0, "success: false is not a grade")
  t.is(grades_of(run.invocation_id), 0, "and none of them graded on the service")

  -- The answer is lost after the grade was written: the key makes the retry a replay.
  local grade_calls = support.requests("/glow/test/grade")
  support.fault { path = "^/glow/test/grade$", method = "POST", times = 1, action = "drop", after = true }
  local res = run:grade { score = 8, feedback = "Clear" }
  t.is(support.requests("/glow/test/grade") - grade_calls, 2, "a grade whose answer was lost is sent again")
  t.is(grades_of(run.invocation_id), 1, "and graded once: the second send replayed the first")
  t.ok(res.grade_id and res.passed == true and res.score == 8, "grade: the service's answer")
  same_fields(res, fixture("test_grade.json"), "grade's answer, returned whole")
  local doc, want = gl:get(test_id), fixture("test_get.json").entries
  same_fields(doc.entries.grades[1], want.grades[1], "get: entries.grades rows")
  same_fields(doc.entries.runs[1], want.runs[1], "get: entries.runs binding rows")
  same_fields(doc.entries.groups[1], want.groups[1], "get: entries.groups (trace) rows")
  local m = run.cases[1]:metric("grade")
  t.ok(m and m.score == 8 and m.passed == true and m.reason == "Clear", "the run's grade metric")
  local again = run:grade { score = 8, feedback = "Clear" }
  t.ok(again.grade_id == res.grade_id and grades_of(run.invocation_id) == 1,
    "the same grade sent again replays (same grade_id, still one grade)")

  -- A 409 while the first send is still being written is retried with the same key.
  grade_calls = support.requests("/glow/test/grade")
  support.fault { path = "^/glow/test/grade$", method = "POST", times = 1, status = 409,
                  body = { detail = "An operation with this idempotency key is already in progress." } }
  local second = run:grade { score = 9 }
  t.ok(support.requests("/glow/test/grade") - grade_calls == 2 and second.score == 9,
    "a 409 'already in progress' is sent again, and then answered")
  t.is(grades_of(run.invocation_id), 2, "a different score is a new grade (graded once more, not twice)")
  t.is(run.cases[1]:metric("grade").score, 9, "the run's metric is the latest grade")

  -- A descriptor names the generation: a client of the other one (evalua resume connects
  -- with the configured one) still follows the run where it was started.
  local d = run:descriptor()
  t.ok(d.api == "test" and not json.encode(d):find("glow-test-token", 1, true), "descriptor: api, no token")
  local v5_calls = support.requests("/api/v5/")
  local back = connect("v5"):attach(json.decode(json.encode(d))):wait():results()
  t.ok(back.cases[1]:metric("grade").score == 9 and support.requests("/api/v5/") == v5_calls,
    "attached by a v5 client: followed through /test/get")
  t.like(tostring(support.error_of(gl.attach, gl, { provider = "glow", id = run.id, api = "v9" })),
    "descriptor api must be \"v5\" or \"test\"", "a descriptor's unknown api: bad argument")

  -- The rubric decides `passed`: a grader's passed = true with a failing score is a failure.
  local low = gl:start(test_id):wait()
  low:grade { score = 3, passed = true }
  t.is(low.cases[1]:metric("grade").passed, false, "passed is the service's (score 3 < pass threshold 7)")
  low:results()
  t.is(low.cases[1]:metric("grade").passed, false, "and so the service's document says")

  -- v5's `end` has no key: a lost answer is not retried (it could grade twice), so it raises.
  local v5 = connect("v5")
  local v5_run = v5:start(v5:create(SUPPORT)):wait()
  support.fault { path = "/artifacts/test/end$", method = "POST", times = 1, action = "drop", after = true }
  err = support.error_of(v5_run.grade, v5_run, { passed = true })
  t.ok(err ~= nil and #v5_run.cases[1].metrics == 0, "v5: a grade with no answer raises and is not counted")

  -- the grading loop ------------------------------------------------------------------------------

  local marathon = gl:create(MARATHON)
  local seen = {}
  local graded = gl:grade_pending(marathon, function(r, c)
    seen[#seen + 1] = r.id
    local a, b = c.inputs.title:match("What is (%d+) %+ (%d+)%?")
    local right = (c.outputs.response or ""):find("The answer is " .. (a + b) .. ".", 1, true) ~= nil
    return { score = right and 10 or 0, feedback = right and "correct" or "wrong" }
  end, { concurrency = 3 })
  local distinct, n = {}, 0
  for _, id in ipairs(seen) do
    if not distinct[id] then n = n + 1 end
    distinct[id] = true
  end
  t.ok(#graded == 10 and #seen == 10 and n == 10, "grade_pending: ten runs, each once")
  local whole = gl:results(marathon)
  t.ok(whole.status == "completed" and whole:pass_rate("grade") == 1.0, "every run graded, every grade passed")
  err = support.error_of(gl.start, gl, marathon)
  t.ok(errors.is(err) and err.no_pending, "start with nothing pending: no_pending")
  t.is(#gl:grade_pending(marathon, function() return { score = 1 } end), 0, "nothing pending: nothing graded")
  t.like(tostring(support.error_of(gl.grade_pending, gl, marathon, nil, { grade = true })),
    "grade = true needs api \"v5\"", "grade = true on api test: bad argument")

  -- A replay that never completes is a timeout, not a pass; the loop stops it.
  support.control("config", { run_seconds = 1000 })
  local stuck = gl:create(SUPPORT)
  err = support.error_of(gl.grade_pending, gl, stuck, function() return { score = 10 } end,
    { wait = { interval = "50ms", timeout = "0.5s" } })
  t.ok(errors.is(err, "timeout"), "a replay that never completes times out as an error")
  local left = gl:results(stuck)
  t.ok(#left:metrics("grade") == 0 and left.cases[1].status == "completed",
    "nothing graded, and the replay was stopped (/test/stop)")
  support.control("config", { run_seconds = 0.6 })

  -- A start whose trace failed replayed nothing: the run is free for the next start.
  local fresh = gl:create(SUPPORT)
  support.fault { path = "^/glow/test/trace$", method = "POST", times = 1, status = 400, body = { detail = "nope" } }
  err = support.error_of(gl.start, gl, fresh)
  t.ok(errors.is(err) and err.start_not_sent, "a failed trace: the start sent nothing that replays")
  t.is(gl:start(fresh).current_run, 1, "the next start takes the same first run")

  -- scripts/glow-grade.lua --api test ------------------------------------------------------------

  local dir = shell.tmpdir()
  shell.write(dir .. "/full_marks.lua", "return function() return { score = 10, feedback = 'ok' } end\n")
  local cmd = ("env -u EVALUA_JOURNAL GLOW_BASE_URL=%s/glow GLOW_TOKEN=glow-test-token bin/evalua run "
    .. "scripts/glow-grade.lua --benchmark %s --grader %s/full_marks.lua --wait 20s --api "):format(base, SUPPORT, dir)
  local out, code = shell.sh(cmd .. "test 2>&1")
  t.ok(code == 0 and out:find("graded 3 runs", 1, true), "glow-grade.lua --api test grades through /test/grade")
  if code ~= 0 then t.diag(out) end
  out, code = shell.sh(cmd .. "v6 2>&1")
  t.ok(code == 2 and out:find("--api must be v5 or test, got 'v6'", 1, true), "--api v6: a usage error (2)")

  -- The generation from evalua.config.lua (a profile's glow.api); a bad one is a config error.
  shell.write(dir .. "/show_api.lua", ("print(require('evalua.glow').connect{ base_url = '%s/glow', "
    .. "token = 'glow-test-token' }.api)\n"):format(base))
  local function with_config(api)
    shell.write(dir .. "/evalua.config.lua", ("return { defaults = { glow = { api = %q } } }\n"):format(api))
    return shell.sh(("env -u EVALUA_JOURNAL bin/evalua --config %s/evalua.config.lua run %s/show_api.lua 2>&1")
      :format(dir, dir))
  end
  out, code = with_config("test")
  t.ok(code == 0 and out:find("^test"), "a profile's glow.api = \"test\" chooses the /test mount")
  out, code = with_config("v7")
  t.ok(code == 2 and out:find("config error: glow.connect: the configuration's glow.api: api must be", 1, true),
    "a profile's unknown glow.api: a configuration error (2)")
  shell.sh("rm -rf " .. dir)

  -- the shared operations --------------------------------------------------------------------------

  local before = support.requests("/glow/test/search")
  t.ok(#gl:search() >= 3 and support.requests("/glow/test/search") > before, "search on the /test mount")
  t.is(gl:archive({ test_id }), 1, "archive on the /test mount")
  t.is(gl:archive({ test_id }, false), 1, "unarchive")
  t.is(gl:export(test_id).row_count, 3, "export on the /test mount")
  t.ok(gl:op("refresh").success and support.requests("/glow/test/refresh") == 1, "refresh through op")

  -- errors ----------------------------------------------------------------------------------------

  local bad = connect("test", { token = "wrong" })
  err = support.error_of(bad.get, bad, test_id)
  t.ok(errors.is(err, "auth") and err.status == 401, "401 on the /test mount")
  err = support.error_of(gl.create, gl, "no-such-benchmark")
  t.ok(errors.is(err, "config") and err.status == 400, "start of an unknown benchmark: 400, a configuration error")
  err = support.error_of(gl.get, gl, "no-such-test")
  t.ok(err and err.status == 404 and tostring(err):find("Benchmark test not found", 1, true), "404 detail")
end)

t.done()
