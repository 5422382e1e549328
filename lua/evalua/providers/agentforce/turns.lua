-- Conversations in Salesforce documents as the model has them: a test case's context
-- variables (`inputs.context_variables`, name -> value) and prior turns
-- (`inputs.conversation_history`), and transcripts of `{role, content, topic, actions}`
-- messages where the agent speaks as `assistant`. Salesforce writes turns as
-- `{role = "user" | "agent", message, topic, index}` (AiEvaluationDefinition inputs,
-- NgtConversationTurn) and context variables as `{variableName, variableValue}`
-- (ai-evaluations) or `{name, value}` (ai-testing).
local model = require "evalua.model"

local turns = {}
local val, text, number, unescape = model.value, model.text, model.number, model.unescape

local roles = { agent = "assistant", assistant = "assistant", user = "user" }

-- One turn as a transcript message.
local function message(t)
  local role = text(t.role)
  local actions = val(t.actions)
  return { role = role and (roles[role:lower()] or role),
           content = unescape(text(t.message) or text(t.content)),
           topic = text(t.topic),
           actions = type(actions) == "table" and #actions > 0 and actions or nil }
end

-- A list of turns as messages, in `index` order when every turn has an index (Salesforce's
-- client sets all or none); nil when there are none.
function turns.list(v)
  v = val(v)
  if type(v) ~= "table" or #v == 0 then return nil end
  local items, indexed = {}, true
  for i, t in ipairs(v) do
    if type(t) == "table" then
      local index = number(t.index)
      indexed = indexed and index ~= nil
      items[#items + 1] = { at = index or i, pos = i, msg = message(t) }
    end
  end
  if indexed then
    table.sort(items, function(a, b) return a.at < b.at or (a.at == b.at and a.pos < b.pos) end)
  end
  local out = {}
  for i, item in ipairs(items) do out[i] = item.msg end
  return #out > 0 and out or nil
end

-- Context variables as a name -> value table; nil when there are none.
function turns.context(v)
  v = val(v)
  if type(v) ~= "table" then return nil end
  local out
  for _, cv in ipairs(v) do
    if type(cv) == "table" then
      local name = text(cv.variableName) or text(cv.name)
      if name then
        out = out or {}
        out[name] = unescape(text(cv.variableValue) or text(cv.value))
      end
    end
  end
  return out
end

-- The transcript of one turn-level test case: the prior turns it was given, then its
-- utterance and the agent's answer.
function turns.transcript(history, utterance, response)
  if not (history or utterance or response) then return nil end
  local t = {}
  for i, m in ipairs(history or {}) do t[i] = m end
  if utterance then t[#t + 1] = { role = "user", content = utterance } end
  if response then t[#t + 1] = { role = "assistant", content = response } end
  return t
end

return turns
