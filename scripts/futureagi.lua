-- Execute a Future AGI run test (or create one from a spec file), wait for its calls and
-- evaluations, print a summary. Exit 0 when every call passed its evals (or the pass
-- rate is at least --min-pass-rate), 1 when not, 4 on network or auth failures.
--   evalua run scripts/futureagi.lua --run-test d2f8b4a6-... --wait 20m
--   evalua run scripts/futureagi.lua --create spec.json
-- Credentials: FI_API_KEY, FI_SECRET_KEY; FI_BASE_URL for another server.
local futureagi = require "evalua.futureagi"
local script = require "evalua.script"

local flags = script.flags(arg, {
  { "run-test", meta = "ID", help = "run test to execute" },
  { "create", meta = "FILE", help = "JSON create spec (name, agent_definition_id, scenario_ids, ...)" },
  { "wait", default = "20m", duration = true, meta = "DURATION", help = "how long to wait" },
  { "min-pass-rate", number = true, meta = "0..1", help = "pass when this share of calls passed" },
  { "base-url", meta = "URL", help = "API base (default $FI_BASE_URL or https://api.futureagi.com)" },
}, "Execute a Future AGI run test, wait for calls and evals, and print the results.")

local target = flags.run_test
if flags.create then
  local f = assert(io.open(flags.create, "r"))
  target = json.decode(f:read("a"))
  f:close()
end
if not target then
  io.stderr:write("futureagi.lua: give --run-test ID or --create FILE (see --help)\n")
  return 2
end

local client = futureagi.connect { base_url = flags.base_url }
local run <close> = client:start(target)
print(("started execution %s"):format(run.id))
run:wait { timeout = flags.wait }
run:results()
return script.report(run, { min_pass_rate = flags.min_pass_rate })
