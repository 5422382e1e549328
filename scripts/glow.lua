-- Replay the pending runs of a Glow benchmark test and print their grades.
--   evalua run scripts/glow.lua --test TEST_ID        (an existing test)
--   evalua run scripts/glow.lua --benchmark BENCH_ID  (starts a new test first)
-- Credentials: GLOW_TOKEN (or GLOW_API_KEY); GLOW_BASE_URL for the server.
local glow = require "evalua.glow"
local script = require "evalua.script"

local flags = script.flags(arg, {
  { "test", meta = "ID", help = "benchmark test to replay" },
  { "benchmark", meta = "ID", help = "start a new test of this benchmark" },
  { "wait", default = "10m", duration = true, meta = "DURATION", help = "how long to wait for each replay" },
  { "base-url", meta = "URL", help = "Glow server (default $GLOW_BASE_URL)" },
}, "Replay every pending run of a Glow test, wait for them, and print the results.")

local client = glow.connect { base_url = flags.base_url }
local test_id = flags.test or (flags.benchmark and client:create(flags.benchmark))
if not test_id then
  io.stderr:write("glow.lua: give --test ID or --benchmark ID (see --help)\n")
  return 2
end
-- Let the service grade each replay (Glow's AI grader); scripts/glow-grade.lua grades
-- with your own code instead.
local graded = client:grade_pending(test_id, nil, { grade = true, concurrency = 4, wait = { timeout = flags.wait } })
print(("replayed and graded %d runs of test %s"):format(#graded, test_id))
return script.report(client:results(test_id))
