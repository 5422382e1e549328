--- runner.budget: `evalua test --max-runs N`. Runs on hosted services cost money: once N
-- runs were started, a test that tries to start another is refused before anything is
-- sent (it ends skipped, with the reason), no further test starts, and the tests still
-- running finish (`--on-budget=finish`, the default) or are stopped with their remote
-- runs cancelled (`--on-budget=cancel`). The session then exits 1.
local dsl = require "evalua.runner.dsl"
local hooks = require "evalua.hooks"
local task = require "evalua.task"

local budget = {}

budget.POLICIES = { finish = true, cancel = true }

--- budget.watch(runner, {max_runs = N, on_budget = "finish"|"cancel"}) -> stop function.
-- Register it before the journal listens, so that a refused start leaves no trace there.
function budget.watch(r, opts)
  local started = 0
  local reason = ("not run: budget of %d run%s reached (--max-runs)"):format(opts.max_runs,
    opts.max_runs == 1 and "" or "s")
  return hooks.on("run_starting", function()
    if started < opts.max_runs then
      started = started + 1
      return
    end
    if not r.data.budget then
      r.data.budget = { max_runs = opts.max_runs, on_budget = opts.on_budget or "finish" }
      -- In a task of its own, which no test owns: stopping cancels every running test,
      -- this one included. Tests first (they end skipped, not failed by a run they see
      -- cancelled), then runs.
      task.detached(function()
        r:stop(reason, { keep_running = opts.on_budget ~= "cancel" })
        if opts.on_budget ~= "cancel" then return end
        for _, run in ipairs(r:unfinished_runs()) do
          local ok, err = pcall(run.cancel, run)
          if not ok then io.stderr:write(("evalua test: could not cancel %s:%s: %s\n")
            :format(tostring(run.provider), tostring(run.id), tostring(err))) end
        end
      end)
    end
    error(dsl.skip(reason), 0)
  end)
end

return budget
