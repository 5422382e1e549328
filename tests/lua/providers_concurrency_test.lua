-- 200 runs across the four services in flight at once from one script, each waited for
-- in its own task, all finishing with the results their service reported.
local t = require "tap"
local support = require "providers_support"

support.run(function()
  local base = support.start { run_seconds = 1.5, max_in_progress = 100 }
  local wait = { interval = "200ms", max_interval = "1s", timeout = "60s" }
  local clients = {
    agentforce = require("evalua.agentforce").connect { base_url = base .. "/sf", wait = wait,
      client_id = "sandbox-client-id", client_secret = "sandbox-client-secret" },
    futureagi = require("evalua.futureagi").connect { base_url = base .. "/fi", wait = wait,
      api_key = "fi-test-key", secret_key = "fi-test-secret" },
    kapso = require("evalua.kapso").connect { base_url = base .. "/kapso/api/v1", wait = wait,
      api_key = "kapso-test-key", pass_score = 8 },
    glow = require("evalua.glow").connect { base_url = base .. "/glow", wait = wait,
      token = "glow-test-token" },
  }
  local glow_test = clients.glow:create("b3e1a7c0-0000-4000-8000-000000000003")
  local glow_tests = { glow_test }
  for _ = 1, 4 do glow_tests[#glow_tests + 1] = clients.glow:create("b3e1a7c0-0000-4000-8000-000000000003") end
  local targets = {
    agentforce = function() return "Order_Support_All_Pass" end,
    futureagi = function() return "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30" end,
    kapso = function() return "ca5e0000-0000-4000-8000-000000000001" end,
    glow = function(i) return glow_tests[(i - 1) % #glow_tests + 1] end,
  }
  local jobs = {}
  for name, client in pairs(clients) do
    for i = 1, 50 do
      jobs[#jobs + 1] = function()
        local run = client:start(targets[name](i)):wait():results()
        return { provider = name, status = run.status, cases = #run.cases, passed = run:passed() }
      end
    end
  end
  local t0 = task.now()
  local results = task.all(jobs)
  local elapsed = task.now() - t0
  local by = {}
  for _, r in ipairs(results) do
    local b = by[r.provider] or { completed = 0, cases = 0 }
    by[r.provider] = b
    if r.status == "completed" then b.completed = b.completed + 1 end
    b.cases = b.cases + r.cases
  end
  t.is(#results, 200, "200 runs finished")
  for name in pairs(clients) do
    t.is(by[name].completed, 50, name .. ": 50 runs completed")
  end
  t.is(by.agentforce.cases, 150, "agentforce: three cases each")
  t.is(by.futureagi.cases, 250, "futureagi: five calls each")
  t.is(by.kapso.cases, 50, "kapso: one case each")
  t.is(by.glow.cases, 50, "glow: one replay each")
  t.ok(elapsed < 30, ("all in flight at once (%.1fs)"):format(elapsed))
  local pat = support.stats()
  t.is(pat.polls_after_terminal, 0, "no poll after a terminal status " .. json.encode(pat.polls_after_terminal_by_service))
end)

t.done()
