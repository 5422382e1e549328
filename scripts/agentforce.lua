-- Run a Salesforce Agentforce test definition, wait for it, print a summary.
-- Exit 0 when every case passed (or the pass rate is at least --min-pass-rate), 1 when
-- not, 4 when Salesforce could not be reached or refused the credentials.
--   evalua run scripts/agentforce.lua --definition Guest_Experience_Agent --wait 10m
-- Credentials: SF_MY_DOMAIN, SF_CLIENT_ID, SF_CLIENT_SECRET (or the flags below).
local agentforce = require "evalua.agentforce"
local script = require "evalua.script"

local flags = script.flags(arg, {
  { "definition", required = true, meta = "NAME", help = "aiEvaluationDefinition to run" },
  { "wait", default = "10m", duration = true, meta = "DURATION", help = "how long to wait for the run" },
  { "min-pass-rate", number = true, meta = "0..1", help = "pass when this share of cases passed" },
  { "base-url", meta = "URL", help = "My Domain URL (default $SF_MY_DOMAIN)" },
  { "api-version", meta = "N", help = "REST API version (default 63.0)" },
  { "json", meta = "FILE", help = "also write the run as JSON" },
}, "Start an Agentforce test run, wait for it, and print its metrics.")

local client = agentforce.connect { base_url = flags.base_url, api_version = flags.api_version }
local run <close> = client:start(flags.definition)
print(("started %s run %s"):format(flags.definition, run.id))
run:wait { timeout = flags.wait }
run:results()
if flags.json then
  require("evalua.fs").write_atomic(flags.json, json.encode(run.raw, { indent = 2 }))
end
return script.report(run, { min_pass_rate = flags.min_pass_rate })
