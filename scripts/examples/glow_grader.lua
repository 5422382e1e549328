-- A grader for scripts/glow-grade.lua: rules over the replayed conversation.
-- It returns function(run, case) -> {score, passed, feedback}; swap the rules for
-- regexes of your own, or a call to an LLM endpoint with http.post.
local banned = { "as an ai language model", "i cannot help", "lorem ipsum" }

return function(_, case)
  local reply = (case and case.outputs.response or ""):lower()
  local turns = case and case.outputs.transcript or {}
  local score, notes = 1.0, {}
  if reply == "" then
    score = 0
    notes[#notes + 1] = "no reply from the agent"
  end
  for _, phrase in ipairs(banned) do
    if reply:find(phrase, 1, true) then
      score = score - 0.5
      notes[#notes + 1] = "says '" .. phrase .. "'"
    end
  end
  if #turns > 12 then
    score = score - 0.25
    notes[#notes + 1] = ("long conversation (%d turns)"):format(#turns)
  end
  score = math.max(0, score)
  return {
    score = score,
    passed = score >= 0.75,
    feedback = #notes > 0 and table.concat(notes, "; ") or "reply present, no banned phrases",
  }
end
