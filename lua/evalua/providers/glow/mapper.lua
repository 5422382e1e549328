-- Glow `get` documents into the common model (`model.from.glow`): a test's run items,
-- their invocations (grades) and, when the document carries them, their transcripts.
local model = require "evalua.model"

local mapper = {}
local val, text, number, verdict = model.value, model.text, model.number, model.verdict
local messages, last_reply = model.messages, model.last_reply
local need_table, maybe_table = model.need_table, model.maybe_table

mapper.statuses = { NOTSTARTED = "queued", INPROGRESS = "running", COMPLETED = "completed" }

local function glow_case(item, invocation, chat)
  invocation = invocation or {}
  local score, passed = number(item.grade_score), val(item.grade_passed)
  if score == nil and passed == nil then
    score, passed = number(invocation.grade_score), val(invocation.grade_passed)
  end
  local status = model.normalize("glow", item.status)
  if val(item.status) == nil and val(invocation.invocation_completed) == true then
    status = "completed"
  end
  local transcript = messages(chat and val(chat.messages))
  local c = model.case {
    name = text(invocation.invocation_title) or text(item.run_id) or text(item.chat_id),
    id = text(item.run_id),
    invocation_id = text(item.invocation_id),
    status = status,
    raw_status = text(item.status),
    inputs = { title = text(invocation.invocation_title), suite_entry_id = text(item.suite_entry_id) },
    outputs = { chat_id = text(item.chat_id), model = text(item.model_name),
                agent = text(item.agent_name), transcript = transcript,
                response = last_reply(transcript) },
    raw = item,
  }
  if score ~= nil or passed ~= nil then
    c.metrics[1] = model.metric { name = "grade", score = score, passed = verdict(passed),
                                  reason = text(invocation.grade_feedback), status = "completed" }
  end
  return c
end

-- Run transcripts, when the `get` document carries them (`entries.chats[]`), by chat id.
local function glow_chats(doc)
  local entries = val(doc.entries)
  local chats = {}
  for _, chat in ipairs(type(entries) == "table" and val(entries.chats) or {}) do
    chats[text(chat.chat_id) or ""] = chat
  end
  return chats
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
  local chats = glow_chats(doc)
  local run = model.run { provider = "glow", raw = doc, raw_status = text(doc.status) }
  local test = val(doc.test) or {}
  run.test_id = opts.test_id or text(test.test_id)
  for _, item in ipairs(val(doc.runs) or {}) do
    if opts.run_id == nil or text(item.run_id) == opts.run_id then
      run.cases[#run.cases + 1] = glow_case(item, invocations[text(item.invocation_id) or ""],
        chats[text(item.chat_id) or ""])
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
    run.status = total > 0 and completed >= total and "completed"
      or (completed > 0 or (number(s.in_progress) or 0) > 0) and "running" or "queued"
  end
  return run
end

return mapper
