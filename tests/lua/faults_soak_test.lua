-- Soak: 2,000 runs across the four services, with 2% of the services' requests faulted
-- (503, 429 with Retry-After, dropped connections), all complete with the results their
-- service reported; every run is journalled and marked finished; no poll after a
-- terminal status. Bounded: at most SLOTS runs in flight, every wait has a timeout.
local t = require "tap"
local support = require "providers_support"
local journal = require "evalua.journal"

local RUNS = 2000          -- 500 per service
local SLOTS = 300          -- runs in flight at once
local DEADLINE = 90        -- seconds for the whole soak (it takes ~15 s on 2 cores)

local AGENT = "87a193df-12a6-46e1-860d-d18ddb4a00cf"
local REFUND = "fae7d086-6466-4b40-b21f-13bb7e1d83fe"
local TASK_COMPLETION = "5419b2e4-f155-4f0f-846f-0a3f848a74be"
local GREETING = "ca5e0000-0000-4000-8000-000000000001"
local MARATHON = "b3e1a7c0-0000-4000-8000-000000000003"

local function mktemp_dir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end
local dir = mktemp_dir()
local tmp = dir .. "/journal"

support.run(function()
  local base = support.start { run_seconds = 0.4, max_in_progress = 100000, status_results_lag = 0.05 }
  -- Six attempts: a request fails only when six draws in a row hit the 2% (about 1e-10).
  http.configure { retry = { attempts = 6, backoff = "10ms", max_backoff = "100ms" } }
  local own = journal.open(tmp)
  local stop_journal = own:listen()

  local wait = { interval = "100ms", max_interval = "300ms", timeout = "30s" }
  local sf = require("evalua.agentforce").connect { base_url = base .. "/sf", wait = wait,
    client_id = "sandbox-client-id", client_secret = "sandbox-client-secret" }
  local fi = require("evalua.futureagi").connect { base_url = base .. "/fi", wait = wait,
    api_key = "fi-test-key", secret_key = "fi-test-secret" }
  local ks = require("evalua.kapso").connect { base_url = base .. "/kapso/api/v1", wait = wait,
    api_key = "kapso-test-key", pass_score = 8 }
  local gl = require("evalua.glow").connect { base_url = base .. "/glow", wait = wait, token = "glow-test-token" }

  -- Glow: a Grading marathon test has 10 runs, so 50 tests give 500 replays.
  local glow_tests = {}
  for i = 1, RUNS // 4 // 10 do glow_tests[i] = gl:create(MARATHON) end

  -- Faults from here on: 2% of every request to the four services (the token endpoint
  -- and the control API are left alone). GETs may be dropped (they are idempotent);
  -- any method may get a 503 or a 429 (neither was processed).
  local P = "^/(sfi|fi|kapso|glow)/"
  support.fault { path = P, method = "GET", rate = 0.0067, action = "drop" }
  support.fault { path = P, rate = 0.0067, status = 503 }
  support.fault { path = P, rate = 0.0067, status = 429, retry_after = "0" }
  local requests_before = support.stats().requests

  -- One job per run: start, wait, read results, and check them against what the service
  -- is seeded to report. Returns the provider name and a list of problems (empty: correct).
  local jobs = {}
  local function add(name, fn) jobs[#jobs + 1] = { name = name, fn = fn } end
  for i = 1, RUNS // 4 do
    add("agentforce", function()
      local run = sf:start("Order_Support_All_Pass"):wait():results()
      return run, #run.cases == 3 and run:passed() == true and run.status == "completed"
    end)
    add("futureagi", function()
      -- A run test of its own: the status endpoint shows a run test's latest execution.
      local run = fi:start({ name = "soak " .. i, agent_definition_id = AGENT, scenario_ids = { REFUND },
                             evaluations_config = { { template_id = TASK_COMPLETION } } }):wait():results()
      local judged = select(3, run:pass_rate("task_completion"))
      return run, run.status == "completed" and #run.cases == 3 and judged == 3
    end)
    add("kapso", function()
      local run = ks:start(GREETING):wait():results()
      local m = run.cases[1] and run.cases[1]:metric("score")
      return run, run.status == "completed" and m and m.score >= 8 and m.passed == true
    end)
    add("glow", function()
      local run = gl:start(glow_tests[(i - 1) % #glow_tests + 1]):wait():results()
      local case = run.cases[1]
      local a, b = case.inputs.title:match("What is (%d+) %+ (%d+)%?")
      local right = a and case.outputs.response:find("The answer is " .. (a + b) .. ".", 1, true) ~= nil
      local res = run:grade { score = right and 1 or 0, passed = right, feedback = "soak" }
      return run, run.status == "completed" and right and res.passed == true
    end)
  end

  local t0 = task.now()
  local next_job, outcome = 0, {}
  local function worker()
    while true do
      next_job = next_job + 1
      local i = next_job
      if i > #jobs or task.now() - t0 > DEADLINE then return end
      local ok, run, correct = pcall(jobs[i].fn)
      outcome[i] = { name = jobs[i].name, ok = ok, err = not ok and run or nil, correct = ok and correct,
                     key = ok and (run.provider .. ":" .. tostring(run.id)) }
    end
  end
  local workers = {}
  for w = 1, SLOTS do workers[w] = worker end
  task.all(workers)
  local elapsed = task.now() - t0
  stop_journal()

  local by, errors_seen = {}, {}
  for _, name in ipairs { "agentforce", "futureagi", "kapso", "glow" } do by[name] = { done = 0, correct = 0 } end
  local finished_keys = {}
  for i = 1, #jobs do
    local o = outcome[i]
    if o then
      local b = by[o.name]
      if o.ok then
        b.done = b.done + 1
        if o.correct then b.correct = b.correct + 1 end
        finished_keys[o.key] = true
      elseif #errors_seen < 5 then
        errors_seen[#errors_seen + 1] = o.name .. ": " .. tostring(o.err)
      end
    end
  end
  for _, e in ipairs(errors_seen) do t.diag(e) end

  local total = 0
  for _, name in ipairs { "agentforce", "futureagi", "kapso", "glow" } do
    t.is(by[name].done, RUNS // 4, name .. ": every run finished without an error")
    t.is(by[name].correct, RUNS // 4, name .. ": every run has the results its service reported")
    total = total + by[name].done
  end
  t.is(total, RUNS, ("%d runs in %.1fs, at most %d in flight"):format(total, elapsed, SLOTS))
  t.ok(elapsed < DEADLINE, ("the soak stays within its time budget (%.1fs)"):format(elapsed))

  local applied, stats = 0, support.stats()
  for _, rule in ipairs(support.control("faults").rules) do applied = applied + rule.applied end
  local share = applied / math.max(1, stats.requests - requests_before)
  t.ok(share > 0.01 and share < 0.03, ("%d of %d requests faulted (%.1f%%)"):format(applied,
    stats.requests - requests_before, share * 100))
  local after = stats.polls_after_terminal_by_service
  t.ok(after.agentforce == 0 and after.futureagi == 0 and after.kapso == 0,
    ("no poll after a terminal status: Salesforce, Future AGI, Kapso (%s)"):format(json.encode(after)))
  -- Regression test (fixed): Glow's `get` shows every run of a test, and each waiter polls it on its own
  -- (providers/glow.lua poll_run): when one waiter's answer already showed another run
  -- completed, that run's waiter asks again and gets the same terminal document. Seen with
  -- ten replays of one test in flight (0-8 such polls per soak); with one replay per test
  -- there are none. Sharing `get` answers among the runs of a test would fix it.
  t.is(after.glow, 0, "no poll after a terminal status: Glow, with replays of one test side by side")
  local started = 0
  for _, name in ipairs { "agentforce", "futureagi", "kapso", "glow" } do
    started = started + stats.runs[name].started
  end
  t.is(started, RUNS, "the services saw exactly one run per start: none started twice, none lost")

  local entries = journal.read(tmp)
  local journalled, marked = 0, 0
  for _, e in ipairs(entries) do
    if finished_keys[e.key] then
      journalled = journalled + 1
      if e.finished then marked = marked + 1 end
    end
  end
  t.is(journalled, RUNS, "every run is in the journal")
  t.is(marked, RUNS, "and marked finished")
end)

os.execute("rm -rf " .. dir)
t.done()
