-- Future AGI run-test documents into the common model (`model.from.futureagi`): the status
-- document of an execution and its calls, each call's `eval_outputs` a metric.
local model = require "evalua.model"

local mapper = {}
local val, text, number, verdict = model.value, model.text, model.number, model.verdict
local error_text, messages, last_reply = model.error_text, model.messages, model.last_reply
local maybe_table = model.maybe_table

mapper.statuses = {
  NOTFOUND = "queued", STARTED = "queued", PENDING = "queued", QUEUED = "queued",
  RUNNING = "running", ONGOING = "running", ANALYZING = "running",
  EVALUATING = "running", CANCELLING = "running",
  COMPLETED = "completed", FAILED = "failed", CANCELLED = "cancelled",
}

-- A choices eval answers a string, a list, or `{score, choice|choices}`.
local function choice(v)
  if type(v) == "string" then return v end
  if type(v) ~= "table" then return nil end
  if #v > 0 then return table.concat(v, ", ") end
  local picked = val(v.choice) or val(v.choices)
  if type(picked) == "table" then picked = table.concat(picked, ", ") end
  return text(picked), number(v.score)
end

-- One entry of a call's `eval_outputs`: `{value, reason, type, name, error, status, skipped}`
-- (newer servers: `output`, `output_type` and the axes output_pass/score/choices).
-- A pending eval is `{}`: it yields a metric with no verdict yet, named from `names`.
local function futureagi_metric(id, e, names)
  local m = { name = text(e.name) or names[id] or id, id = id, raw = e }
  if next(e) == nil then
    m.status = "running"
    return model.metric(m)
  end
  local value = val(e.value)
  if value == nil then value = val(e.output) end
  if value == nil then value = val(e.score) end -- the API docs' form: {score, explanation}
  local kind = (text(e.type) or text(e.output_type) or ""):lower()
  m.reason = text(e.reason) or text(e.explanation)
  -- `error` is a boolean in the backend's eval outputs: true means the evaluator failed;
  -- its reason says why.
  m.error = val(e.error) == true and (m.reason or "the evaluation failed") or error_text(e.error)
  m.skipped = val(e.skipped) == true or nil
  m.status = m.error and "error" or m.skipped and "skipped" or "completed"
  if kind:find("pass", 1, true) or type(value) == "boolean" then
    m.passed = verdict(value)
  elseif kind:find("choice", 1, true) then
    m.label, m.score = choice(value)
  elseif number(value) then
    m.score = number(value)
  elseif verdict(value) ~= nil then
    m.passed = verdict(value)
  else
    m.label = choice(value)
  end
  if m.passed == nil then m.passed = verdict(e.output_pass) end
  if m.score == nil then m.score = number(e.output_score) end
  if m.label == nil then m.label = choice(val(e.output_choices)) end
  return model.metric(m)
end

local function futureagi_case(call, names)
  local transcript = messages(call.transcript)
  local scenario = val(call.scenario)
  local scenario_name = type(scenario) == "table" and text(scenario.name) or text(scenario)
  local status = model.normalize("futureagi", call.status)
  local c = model.case {
    name = scenario_name or text(call.scenario_id) or text(call.id),
    id = text(call.id),
    status = status,
    raw_status = text(call.status),
    score = number(call.overall_score),
    duration = number(call.duration_seconds) or number(call.duration),
    inputs = { scenario = scenario, scenario_id = text(call.scenario_id), row_index = number(call.row_index) },
    outputs = {
      response = last_reply(transcript),
      transcript = transcript,
      summary = text(call.call_summary),
      ended_reason = text(call.ended_reason),
    },
    error = error_text(call.error) or (status == "failed" and text(call.ended_reason) or nil),
    raw = call,
  }
  local outputs = val(call.eval_outputs) or {}
  local ids = {}
  for id in pairs(outputs) do ids[#ids + 1] = id end
  table.sort(ids) -- a JSON object has no order; keep reports stable
  for _, id in ipairs(ids) do
    c.metrics[#c.metrics + 1] = futureagi_metric(id, val(outputs[id]) or {}, names)
  end
  return c
end

-- Eval config id -> name. A pending eval output (`{}`) carries no name: take it from
-- `opts.eval_names` (the run test's eval configs) or from another call's finished output.
local function futureagi_eval_names(calls, given)
  local names = {}
  for id, name in pairs(given or {}) do names[id] = name end
  for _, call in ipairs(calls) do
    for id, e in pairs(val(call.eval_outputs) or {}) do
      names[id] = names[id] or (type(e) == "table" and text(e.name)) or nil
    end
  end
  return names
end

-- Future AGI: the run-test status document (for the execution) and its per-call results.
-- `opts`: id, run_test_id, eval_names ({[eval_config_id] = name}).
function mapper.run(status_doc, calls, opts)
  status_doc = maybe_table(status_doc, 1, "from.futureagi")
  calls = maybe_table(calls, 2, "from.futureagi")
  opts = maybe_table(opts, 3, "from.futureagi")
  local run = model.run {
    provider = "futureagi",
    id = opts.id or text(status_doc.execution_id),
    run_test_id = opts.run_test_id or text(status_doc.run_test_id),
    status = model.normalize("futureagi", status_doc.status),
    raw_status = text(status_doc.status),
    started_at = text(status_doc.start_time),
    ended_at = text(status_doc.end_time),
    cases_done = number(status_doc.completed_calls), cases_total = number(status_doc.total_calls),
    raw = status_doc,
  }
  if run.status == "failed" then run.error = text(status_doc.message) or text(status_doc.error) end
  local names = futureagi_eval_names(calls, opts.eval_names)
  for _, call in ipairs(calls) do
    run.cases[#run.cases + 1] = futureagi_case(call, names)
  end
  return run
end

return mapper
