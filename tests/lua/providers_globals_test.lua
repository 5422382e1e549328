-- Provider code never reads a script's globals: a script that assigns its own `http`,
-- `auth`, `json`, `task`, `poll`, `env`, `secret` and `evalua` still drives all four
-- providers (connect from the environment, start, wait, results, cancel).
local t = require "tap"
local shell = require "shell"
local support = require "providers_support"

support.run(function()
  local base = support.start()
  local script = (os.getenv("TMPDIR") or "/tmp") .. "/own_globals.lua"
  shell.write(script, [[
http, auth, json, task, poll = { request = false }, nil, "my json", 42, false
env, secret, evalua = nil, nil, { verbose = "yes" }
local agentforce, futureagi = require "evalua.agentforce", require "evalua.futureagi"
local kapso, glow = require "evalua.kapso", require "evalua.glow"
local wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" }
local sf = agentforce.connect { wait = wait }          -- SF_* from the environment
local run = sf:start("Order_Support_All_Pass"):wait():results()
assert(run.status == "completed" and #run.cases == 3, "agentforce")
local fi = futureagi.connect { wait = wait }
local exec = fi:start("d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30")
assert(exec:cancel() == true and exec:cancel() == false, "futureagi cancel")
local ks = kapso.connect { wait = wait, pass_score = 5 }
assert(ks:start("ca5e0000-0000-4000-8000-000000000001"):wait():results().status == "completed", "kapso")
local gl = glow.connect { wait = wait }
local graded = gl:grade_pending(gl:create("b3e1a7c0-0000-4000-8000-000000000001"),
  function() return { score = 1, passed = true } end, { limit = 1 })
assert(#graded == 1, "glow")
print("all four providers worked")
]])
  local env = table.concat({
    "SF_MY_DOMAIN=" .. base .. "/sf", "SF_CLIENT_ID=sandbox-client-id", "SF_CLIENT_SECRET=sandbox-client-secret",
    "FI_BASE_URL=" .. base .. "/fi", "FI_API_KEY=fi-test-key", "FI_SECRET_KEY=fi-test-secret",
    "KAPSO_BASE_URL=" .. base .. "/kapso/api/v1", "KAPSO_API_KEY=kapso-test-key",
    "GLOW_BASE_URL=" .. base .. "/glow", "GLOW_TOKEN=glow-test-token" }, " ")
  local out, code = shell.sh(env .. " bin/evalua run " .. script, 120)
  if not t.ok(code == 0 and out:find("all four providers worked", 1, true),
      "a script with its own http/auth/json/task/poll/env/secret/evalua globals drives every provider") then
    t.diag(out)
  end
end)

t.done()
