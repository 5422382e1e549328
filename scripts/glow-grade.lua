-- Grade Glow benchmark runs with your own code: for each pending run of a test, replay
-- it, wait for the replay, hand it to your grader and submit the verdict through Glow's
-- grading call (`end` with score, passed, feedback; with --api test, Glow's current
-- `/test/grade` with whole rubric points and an idempotency key).
--   evalua run scripts/glow-grade.lua --test TEST_ID --grader my_grader.lua [--api test]
-- The grader file returns a function(run, case) -> {score = n, passed = bool, feedback = s};
-- `case.outputs.transcript` is the conversation ({role, content} messages) and
-- `case.outputs.response` the agent's last reply. scripts/examples/glow_grader.lua is one.
local glow = require "evalua.glow"
local script = require "evalua.script"

local flags = script.flags(arg, {
  { "test", meta = "ID", help = "benchmark test whose pending runs to grade" },
  { "benchmark", meta = "ID", help = "start a new test of this benchmark and grade it" },
  { "grader", required = true, meta = "FILE", help = "Lua file returning function(run, case) -> verdict" },
  { "concurrency", number = true, default = 4, meta = "N", help = "replays graded at once" },
  { "limit", number = true, meta = "N", help = "grade at most N runs" },
  { "wait", default = "10m", duration = true, meta = "DURATION", help = "how long to wait for each replay" },
  { "min-pass-rate", number = true, meta = "0..1", help = "pass when this share of runs passed" },
  { "base-url", meta = "URL", help = "Glow server (default $GLOW_BASE_URL)" },
  { "api", default = "v5", meta = "v5|test",
    help = "Glow API generation: v5 (/api/v5/artifacts/test/*) or test (/test/*, scores in rubric points)" },
}, "Replay pending Glow runs and grade them with your own Lua grader.")
if flags.api ~= "v5" and flags.api ~= "test" then
  io.stderr:write(("glow-grade.lua: --api must be v5 or test, got '%s'\n"):format(flags.api))
  return 2
end

-- A grader that cannot be read is a usage error (2); one that does not compile or raises
-- while loading is a Lua error in your code (3), as for `evalua run` and `evalua test`.
local readable = io.open(flags.grader, "r")
if readable then readable:close() end
local chunk, err = loadfile(flags.grader, "t")
if not chunk then
  if readable then error(err, 0) end
  io.stderr:write("glow-grade.lua: cannot load the grader: ", err, "\n")
  return 2
end
local grader = chunk()
if type(grader) ~= "function" then
  io.stderr:write(("glow-grade.lua: %s must return a function(run, case), it returned a %s\n")
    :format(flags.grader, type(grader)))
  return 2
end

-- grade_pending checks each verdict: a malformed one is an error naming the grader's
-- file and line, not the client that would send it.
local client = glow.connect { base_url = flags.base_url, api = flags.api }
local test_id = flags.test or (flags.benchmark and client:create(flags.benchmark))
if not test_id then
  io.stderr:write("glow-grade.lua: give --test ID or --benchmark ID (see --help)\n")
  return 2
end
local graded = client:grade_pending(test_id, grader, {
  concurrency = flags.concurrency, limit = flags.limit, wait = { timeout = flags.wait },
})
print(("graded %d runs of test %s"):format(#graded, test_id))
for _, run in ipairs(graded) do
  local m = run.cases[1] and run.cases[1]:metric("grade")
  print(("  run %s: %s%s"):format(run.id, m and tostring(m) or "no grade",
    m and m.reason and (" - " .. m.reason) or ""))
end
return script.report(client:results(test_id), { min_pass_rate = flags.min_pass_rate })
