-- Glow `get` documents into the common model (`model.from.glow`): a test's run items,
-- their invocations (grades) and, when the document carries them, their transcripts.
local model = require "evalua.model"

local mapper = {}
local val, text, number, verdict = model.value, model.text, model.number, model.verdict
local need_table, maybe_table = model.need_table, model.maybe_table

mapper.statuses = { NOTSTARTED = "queued", INPROGRESS = "running", COMPLETED = "completed" }

-- Milliseconds each run's latest replay took, by run id. Glow reports no latency: the
-- only timing is in `entries` (glow-academic/api test_invocation_runs and messages
-- types): from the replay's binding row `created_at` to the last `message_created_at`
-- of that run's messages.
local function replay_ms(doc)
  local entries = val(doc.entries)
  if type(entries) ~= "table" then return {} end
  local started, last = {}, {}
  for _, b in ipairs(val(entries.runs) or {}) do
    local id, t = type(b) == "table" and text(b.run_id), type(b) == "table" and model.timestamp(b.created_at)
    if id and t and (started[id] == nil or t > started[id].t) then started[id] = { t = t, at = b.created_at } end
  end
  for _, m in ipairs(val(entries.messages) or {}) do
    local id, t = type(m) == "table" and text(m.run_id), type(m) == "table" and model.timestamp(m.message_created_at)
    if id and t and started[id] and t >= started[id].t and (last[id] == nil or t > last[id].t) then
      last[id] = { t = t, at = m.message_created_at }
    end
  end
  local out = {}
  for id, m in pairs(last) do out[id] = model.elapsed_ms(started[id].at, m.at) end
  return out
end

-- One run item. Its `chat_id` is the invocation id (the backend's get), and the `get`
-- document carries no message text (entries.messages reference texts by id): a Glow case
-- has no transcript.
local function glow_case(item, invocation, spans)
  invocation = invocation or {}
  local score, passed = number(item.grade_score), val(item.grade_passed)
  if score == nil and passed == nil then
    score, passed = number(invocation.grade_score), val(invocation.grade_passed)
  end
  local status = model.normalize("glow", item.status)
  if val(item.status) == nil and val(invocation.invocation_completed) == true then
    status = "completed"
  end
  local c = model.case {
    name = text(invocation.invocation_title) or text(item.run_id) or text(item.chat_id),
    id = text(item.run_id),
    invocation_id = text(item.invocation_id),
    status = status,
    raw_status = text(item.status),
    inputs = { title = text(invocation.invocation_title), suite_entry_id = text(item.suite_entry_id) },
    outputs = { chat_id = text(item.chat_id), model = text(item.model_name),
                agent = text(item.agent_name) },
    latency_ms = status == "completed" and spans[text(item.run_id) or ""] or nil,
    raw = item,
  }
  if score ~= nil or passed ~= nil then
    c.metrics[1] = model.metric { name = "grade", score = score, passed = verdict(passed),
                                  reason = text(invocation.grade_feedback), status = "completed" }
  end
  return c
end

-- The replays (binding rows, `entries.runs`) of the run `run_id` in a `get` document: the
-- backend lists one per `run` (or `next`) that replayed it.
function mapper.replays(doc, run_id)
  local entries = val(doc.entries)
  local n = 0
  for _, b in ipairs(type(entries) == "table" and val(entries.runs) or {}) do
    if type(b) == "table" and text(b.run_id) == run_id then n = n + 1 end
  end
  return n
end

-- A Glow `get` document. With `opts.run_id` the Run is that one replay; without it, the
-- whole test, one case per run item.
function mapper.run(doc, opts)
  need_table(doc, 1, "from.glow", "test document (table)")
  opts = maybe_table(opts, 2, "from.glow")
  local invocations = {}
  for _, inv in ipairs(val(doc.invocations) or {}) do
    invocations[text(inv.invocation_id) or ""] = inv
  end
  local run = model.run { provider = "glow", raw = doc, raw_status = text(doc.status) }
  local test, spans = val(doc.test) or {}, replay_ms(doc)
  run.test_id = opts.test_id or text(test.test_id)
  for _, item in ipairs(val(doc.runs) or {}) do
    -- A run replayed twice has two items: its view is one case.
    local wanted = opts.run_id == nil or (text(item.run_id) == opts.run_id and #run.cases == 0)
    if wanted then
      run.cases[#run.cases + 1] = glow_case(item, invocations[text(item.invocation_id) or ""], spans)
    end
  end
  if opts.run_id then
    run.id = opts.id or opts.run_id
    local c = run.cases[1]
    run.status = c and c.status or "queued"
    run.raw_status = c and c.raw_status
  else
    run.id = opts.id or run.test_id
    local s = val(doc.status_summary) or {}
    local total, completed = number(s.total) or 0, number(s.completed) or 0
    run.cases_done, run.cases_total = number(s.completed), number(s.total)
    run.status = total > 0 and completed >= total and "completed"
      or (completed > 0 or (number(s.in_progress) or 0) > 0) and "running" or "queued"
  end
  return run
end

return mapper
