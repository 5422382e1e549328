-- Kapso test runs into the common model (`model.from.kapso`): one run, one case, one score.
local model = require "evalua.model"

local mapper = {}
local val, text, number = model.value, model.text, model.number
local error_text, messages, last_reply = model.error_text, model.messages, model.last_reply
local need_table, maybe_table, kind_of = model.need_table, model.maybe_table, model.kind_of
local errors = require "evalua.errors"

-- Kapso's runs carry no status word: the mapper derives one from their timestamps.
mapper.statuses = {}

-- A Kapso test run. Kapso gives a score and feedback but no verdict: `passed` is set only
-- when the script chose a threshold (`opts.pass_score`).
function mapper.run(doc, opts)
  need_table(doc, 1, "from.kapso", "test run document (table)")
  opts = maybe_table(opts, 2, "from.kapso")
  if opts.pass_score ~= nil and type(opts.pass_score) ~= "number" then
    errors.argerror(2, "from.kapso", "pass_score must be a number, got " .. kind_of(opts.pass_score))
  end
  local err = error_text(doc.error)
  local finished = val(doc.execution_completed) == true and val(doc.ended_at) ~= nil
  local status = err and "error" or finished and "completed"
    or val(doc.started_at) and "running" or "queued"
  local tc = val(doc.test_case) or {}
  local transcript = messages(doc.conversation)
  local c = model.case {
    name = text(tc.name) or text(tc.id) or text(doc.id),
    id = text(tc.id),
    status = status,
    inputs = { script = text(tc.script), rubric = text(tc.rubric) },
    outputs = { response = last_reply(transcript), transcript = transcript,
                thread_id = text(doc.thread_id) },
    error = err,
    raw = doc,
    -- Kapso reports no latency: the run's span from its timestamps is the only timing.
    latency_ms = finished and model.elapsed_ms(doc.started_at, doc.ended_at) or nil,
  }
  local score = number(doc.score)
  if score ~= nil or text(doc.feedback) then
    local passed
    if score ~= nil and opts.pass_score ~= nil then passed = score >= opts.pass_score end
    c.metrics[1] = model.metric { name = "score", score = score, passed = passed,
                                  reason = text(doc.feedback), status = "completed" }
  end
  return model.run {
    provider = "kapso",
    id = opts.id or text(doc.id),
    test_case_id = text(tc.id),
    status = status,
    started_at = text(doc.started_at),
    ended_at = text(doc.ended_at),
    error = err,
    cases = status == "queued" and {} or { c },
    raw = doc,
  }
end

return mapper
