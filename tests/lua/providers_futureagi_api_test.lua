-- Future AGI as its backend behaves (future-agi/future-agi futureagi/simulate): the
-- executions list has no transcripts (detail_mode=False), so results fetch each finished
-- call's detail, at most 8 at once; filters are a list of {column_id, filter_config};
-- delete answers a message; eval configs are added, updated (POST .../update/) and
-- deleted; executions are compared, rerun, and their KPIs and performance summary read.
local t = require "tap"
local support = require "providers_support"
local futureagi = require "evalua.futureagi"

local SEEDED = "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"

support.run(function()
  local base = support.start()
  local fi = futureagi.connect { base_url = base .. "/fi", api_key = "fi-test-key", secret_key = "fi-test-secret",
                                 wait = { interval = "50ms", max_interval = "200ms", timeout = "20s" } }

  local run = fi:start(SEEDED):wait()
  local listed = fi:calls(run.id)
  t.ok(#listed == 5 and #listed[1].transcript == 0, "the executions list carries no transcripts (as the real list view)")
  local before = support.requests("/call-executions/")
  run:results()
  local fetched = support.requests("/call-executions/") - before
  t.is(fetched, 5, "results fetch each finished call's detail once")
  t.like(run.cases[1].outputs.response, "confirmation by email", "the agent's last words, from the detail transcript")
  t.is(run.cases[1].outputs.transcript[1].role, "assistant", "speaker_role rows read as roles")
  before = support.requests("/call-executions/")
  run:results { transcripts = false }
  t.is(support.requests("/call-executions/") - before, 0, "results{transcripts = false} fetches no detail")
  t.ok(#fi:calls(run.id, { transcripts = true })[1].transcript > 0, "calls{transcripts = true}")

  -- filters
  t.is(#fi:calls(run.id, { filters = { status = "completed" } }), 4, "filters {column = value}: an equals filter")
  t.is(#fi:calls(run.id, { filters = { { column_id = "status",
    filter_config = { filter_type = "text", filter_op = "not_equals", filter_value = "completed" } } } }), 1,
    "filters: the service's own list form")
  t.like(tostring(support.error_of(fi.calls, fi, run.id, { filters = { { column = "status" } } })),
    "filters%[1%] must be", "a malformed filter is refused before sending")

  -- eval configs
  local rt = fi:create { name = "eval configs", agent_definition_id = "87a193df-12a6-46e1-860d-d18ddb4a00cf",
    scenario_ids = { "fae7d086-6466-4b40-b21f-13bb7e1d83fe" } }
  local added = fi:add_eval_configs(rt.id, { { template_id = "122a4e83-4c5e-4a17-bcfc-1d29affba6f9", name = "polite" },
                                             { template_id = "122a4e83-4c5e-4a17-bcfc-1d29affba6f9", name = "polite 2" } })
  local cfg = added.created_eval_configs and added.created_eval_configs[1]
  if not t.ok(cfg and cfg.id and added.run_test_id == rt.id, "add_eval_configs: the created configs") then
    t.diag(require("evalua.inspect").inspect(added))
  end
  if cfg then
    local updated = fi:update_eval_config(rt.id, cfg.id, { name = "polite, renamed" })
    t.ok(updated.eval_config_id == cfg.id and updated.message:find("updated", 1, true),
      "update_eval_config: POST .../update/")
    t.like(fi:delete_eval_config(rt.id, cfg.id).message, "deleted", "delete_eval_config answers a message")
  end
  t.like(fi:delete(rt.id).message, "Run test deleted successfully", "delete answers 200 {message}")

  -- compare, rerun, KPIs, performance summary
  local second = fi:start(SEEDED):wait()
  local cmp = fi:compare(SEEDED, { run.id, second.id })
  t.ok(type(cmp[run.id]) == "table" and type(cmp[second.id]) == "table", "compare: a summary per execution")
  local rerun = fi:rerun(SEEDED, { type = "eval", executions = { run.id } })
  t.ok(rerun.rerun_type == "eval_only" and rerun.total_test_executions == 1, "rerun eval only")
  t.like(tostring(support.error_of(fi.rerun, fi, SEEDED, { type = "everything", executions = { run.id } })),
    "type must be", "an unknown rerun type is refused before sending")
  local kpis = fi:kpis(second.id)
  t.ok(kpis.total_calls == 5 and kpis.avg_total_tokens and kpis.avg_agent_latency, "kpis: calls, tokens, latency")
  local perf = fi:performance_summary(second.id)
  t.ok(perf.test_run_performance_metrics and perf.test_run_performance_metrics.total_test_runs >= 2
    and #perf.top_performing_scenarios > 0, "performance summary")
end)

t.done()
