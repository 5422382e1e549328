-- How the four clients take a service's refusals: a named resource that does not exist or
-- a request rejected as invalid is a configuration error (kind config, exit 2), never
-- infrastructure; only 5xx, 429 and transport failures are. And run:cancel() is idempotent:
-- a second cancel, or a cancel of a run that ended unseen, answers false and never raises.
local t = require "tap"
local shell = require "shell"
local support = require "providers_support"
local agentforce = require "evalua.agentforce"
local futureagi = require "evalua.futureagi"
local kapso = require "evalua.kapso"
local glow = require "evalua.glow"

local SEEDED_RUN_TEST = "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"
local GREETING = "ca5e0000-0000-4000-8000-000000000001"
local SUPPORT = "b3e1a7c0-0000-4000-8000-000000000001"

support.run(function()
  local base = support.start()
  local wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" }
  local sf = agentforce.connect { base_url = base .. "/sf", client_id = "sandbox-client-id",
    client_secret = "sandbox-client-secret", wait = wait }
  local fi = futureagi.connect { base_url = base .. "/fi", api_key = "fi-test-key",
    secret_key = "fi-test-secret", wait = wait }
  local ks = kapso.connect { base_url = base .. "/kapso/api/v1", api_key = "kapso-test-key", wait = wait }
  local gl = glow.connect { base_url = base .. "/glow", token = "glow-test-token", wait = wait }

  -- configuration errors ----------------------------------------------------------------

  local function config_error(err, what, ...)
    local ok = err ~= nil and err.kind == "config" and err.retryable == false
    for _, text in ipairs { ... } do ok = ok and tostring(err):find(text, 1, true) ~= nil end
    if not t.ok(ok, what) then t.diag(tostring(err)) end
  end

  config_error(support.error_of(sf.start, sf, "Typo_Definition"),
    "Salesforce: an unknown test definition is a config error naming it, with Salesforce's text",
    "no test definition named Typo_Definition", "Invalid AiEvalDefinitionVersion identifier")
  config_error(support.error_of(fi.start, fi, "00000000-0000-4000-8000-00000000dead"),
    "Future AGI: an unknown run test is a config error with the URL and Future AGI's text",
    "/simulate/run-tests/00000000-0000-4000-8000-00000000dead/", "HTTP 404")
  config_error(support.error_of(fi.create, fi, { name = "x" }),
    "Future AGI: a create the service rejects as invalid (400) is a config error", "HTTP 400")
  config_error(support.error_of(ks.start, ks, "ca5e0000-0000-4000-8000-00000000dead"),
    "Kapso: an unknown test case is a config error", "HTTP 404")
  config_error(support.error_of(gl.start, gl, "not-a-test"),
    "Glow: an unknown test is a config error", "HTTP 4")

  support.fault { path = "^/fi/simulate/run-tests/$", status = 503, times = 3 }
  local outage = support.error_of(fi.list, fi)
  t.ok(outage and outage.kind == "http" and outage.status == 503, "a 503 stays infrastructure (http)")
  support.fault { path = "^/fi/simulate/run-tests/$", status = 500, times = 1 }
  outage = support.error_of(fi.list, fi)
  t.ok(outage and outage.kind == "http" and outage.status == 500, "a 500 stays infrastructure (http)")

  -- The same typo, as `evalua run` and `evalua test` report it: exit 2, not 4.
  local dir = os.getenv("TMPDIR") or "/tmp"
  local script = dir .. "/typo_scenario.lua"
  shell.write(script, ([[
local sf = require("evalua.agentforce").connect { base_url = %q, client_id = "sandbox-client-id",
  client_secret = "sandbox-client-secret" }
sf:start("Typo_Definition")
]]):format(base .. "/sf"))
  local out, code = shell.sh("bin/evalua run " .. script)
  t.ok(code == 2 and out:find("no test definition named Typo_Definition", 1, true),
    "evalua run: a typo in a definition name exits 2 (configuration)")
  local suite = dir .. "/typo_test.lua"
  shell.write(suite, ([[
test("typo", function()
  local sf = require("evalua.agentforce").connect { base_url = %q, client_id = "sandbox-client-id",
    client_secret = "sandbox-client-secret" }
  sf:start("Typo_Definition")
end)
]]):format(base .. "/sf"))
  out, code = shell.sh("bin/evalua test " .. suite)
  if not t.ok(code == 2 and not out:find("Infrastructure", 1, true),
      "evalua test: the typo is a configuration error (exit 2), not infrastructure") then
    t.diag(out)
  end

  -- cancel ------------------------------------------------------------------------------

  support.control("config", { run_seconds = 3 })
  do
    local run = sf:start("Order_Support_All_Pass")
    t.is(run:cancel(), true, "Salesforce: cancel accepted")
    t.is(run.status, "cancelled", "Salesforce: status says cancelled at once")
    t.is(run:cancel(), false, "Salesforce: a second cancel answers false")
    local again = sf:attach(run:descriptor())
    again.status = "running" -- a second handle that did not see the cancel
    local ok, res = pcall(again.cancel, again)
    t.ok(ok and res == false and again.status == "cancelled",
      "Salesforce: 'already in a terminal state' is false, not an error: " .. tostring(res))
  end
  do
    local run = fi:start(SEEDED_RUN_TEST)
    t.ok(run:cancel() == true and run.status == "cancelled", "Future AGI: cancel, cancelled at once")
    t.is(run:cancel(), false, "Future AGI: a second cancel answers false")
  end
  do
    local test_id = gl:create(SUPPORT)
    local run = gl:start(test_id)
    t.ok(run:cancel() == true and run.status == "cancelled", "Glow: stop, cancelled at once")
    t.is(run:cancel(), false, "Glow: a second cancel answers false")
  end
  support.control("config", { run_seconds = 0.2 })
  do -- runs that ended on the service while nobody polled
    local run = sf:start("Order_Support_All_Pass")
    local exec = fi:start(SEEDED_RUN_TEST)
    task.sleep(1.5)
    local ok, res = pcall(run.cancel, run)
    t.ok(ok and res == false and run.status == "completed", "Salesforce: cancel of an unseen finished run is false")
    ok, res = pcall(exec.cancel, exec)
    t.ok(ok and res == false and exec.status == "completed", "Future AGI: the same")
  end
  do
    local run = ks:start(GREETING)
    local first = tostring(support.error_of(run.cancel, run))
    local second = tostring(support.error_of(run.cancel, run))
    t.ok(first:find("cannot be cancelled", 1, true) and first == second,
      "Kapso (no cancel call): the same clear refusal every time")
  end
end)

t.done()
