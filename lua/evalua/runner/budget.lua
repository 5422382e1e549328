--- runner.budget: `evalua test --max-runs N` and `--max-cost X`. Runs on hosted services
-- cost money: once N runs were started, or once the cost the services reported for this
-- session's runs has reached X, a test that tries to start another run is refused before
-- anything is sent (it ends skipped, with the reason), no further test starts, and the
-- tests still running finish (`--on-budget=finish`, the default) or are stopped with
-- their remote runs cancelled (`--on-budget=cancel`). The session then exits 1.
--
-- Cost is known only from results: the total is what the results fetched so far report
-- (runner.stats usage over every case of every run this session started), checked each
-- time a run is about to start. Runs already in flight when it is reached are not
-- counted yet and may overshoot X; so may the runs that tests running in parallel
-- (--jobs) start before any result arrived.
local dsl = require "evalua.runner.dsl"
local hooks = require "evalua.hooks"
local model = require "evalua.model"
local stats = require "evalua.runner.stats"
local task = require "evalua.task"

local budget = {}

budget.POLICIES = { finish = true, cancel = true }

-- The cost reported so far by `runs` (0 when none reports one), and whether any did: a
-- plain sum (it runs at every start), counted as runner.stats counts it.
local function spent(runs)
  local total, reported = 0, false
  for _, run in ipairs(runs) do
    for _, c in ipairs(run.cases or {}) do
      local cost = stats.number(c.cost)
      if cost then total, reported = total + cost, true end
    end
  end
  return total, reported
end

local function warn(fmt, ...)
  io.stderr:write("evalua test: ", fmt:format(...), "\n")
end

-- Stop the session for `reason`: in a task of its own, which no test owns (stopping
-- cancels every running test, this one included). Tests first (they end skipped, not
-- failed by a run they see cancelled), then, with --on-budget=cancel, their runs.
local function stop(r, reason, policy)
  task.detached(function()
    r:stop(reason, { keep_running = policy ~= "cancel" })
    if policy ~= "cancel" then return end
    for _, run in ipairs(r:unfinished_runs()) do
      local ok, err = pcall(run.cancel, run)
      if not ok then warn("could not cancel %s:%s: %s", tostring(run.provider), tostring(run.id), tostring(err)) end
    end
  end)
end

--- budget.watch(runner, {max_runs = N, max_cost = X, on_budget = "finish"|"cancel"}) ->
-- stop function. Register it before the journal listens, so that a refused start leaves
-- no trace there. The stop function unsubscribes and, when --max-cost was given but no
-- run reported a cost, says so (a budget that could never have stopped anything).
function budget.watch(r, opts)
  local started, runs, told = 0, {}, {}
  local policy = opts.on_budget or "finish"
  local function refusal()
    if opts.max_runs and started >= opts.max_runs then
      return ("not run: budget of %d run%s reached (--max-runs)"):format(opts.max_runs,
        opts.max_runs == 1 and "" or "s")
    end
    local cost = spent(runs)
    if opts.max_cost and cost >= opts.max_cost then
      return ("not run: cost budget of %.6g reached (--max-cost; %.6g reported so far)"):format(opts.max_cost, cost),
        cost
    end
  end
  -- With --max-cost the session's runs are kept to the end, to sum what their results report.
  local off_started = opts.max_cost and hooks.on("run_started", function(run) runs[#runs + 1] = run end)
    or function() end
  local off_starting = hooks.on("run_starting", function(info)
    local known, mapper = pcall(model.mapper, info.provider) -- (a client of another provider has none)
    if opts.max_cost and not told[info.provider] and not (known and mapper.reports_cost) then
      told[info.provider] = true
      warn("--max-cost: %s runs report no cost; they do not count against the budget", info.provider)
    end
    local reason, cost = refusal()
    if not reason then
      started = started + 1
      return
    end
    if not r.data.budget then
      r.data.budget = { max_runs = opts.max_runs, max_cost = opts.max_cost, cost = cost, on_budget = policy,
                        reason = reason }
      stop(r, reason, policy)
    end
    error(dsl.skip(r.data.budget.reason), 0)
  end)
  return function()
    off_started()
    off_starting()
    local cost, reported = spent(runs)
    if opts.max_cost and not reported then
      warn("--max-cost %.6g: no run of this session reported a cost: the budget could never stop anything",
        opts.max_cost)
    elseif opts.max_cost and cost > opts.max_cost then
      warn("--max-cost %.6g: the runs reported %.6g in all (runs in flight overshoot the budget)", opts.max_cost, cost)
    end
  end
end

return budget
