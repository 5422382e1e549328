--- The terminal view of `evalua report diff`: regressions first (with what changed and
-- by how much), then fixes, score changes, new and vanished cases, the pass rate of
-- every metric with its counts, the cases that could not be matched, and a summary.
local diff = require "evalua.report.diff"
local diff_service = require "evalua.report.diff_service"
local markup = require "evalua.report.markup"

local view = {}

local COLORS = { red = "31", green = "32", yellow = "33", dim = "2", bold = "1" }
local MARK = { regressed = "✗", vanished = "✗", fixed = "✓", new = "+", changed = "~", same = "=" }
local COLOR_OF = { regressed = "red", vanished = "red", fixed = "green", new = "yellow", changed = "yellow" }

local function where(e)
  return ("%s: %s"):format(e.file or "?", e.test or e.name or "?")
end

local function metric_words(m)
  local parts = { ("%s %s -> %s"):format(m.name, diff.verdict(m.base_passed), diff.verdict(m.new_passed)) }
  if m.base_score or m.new_score then
    parts[#parts + 1] = ("score %s -> %s%s"):format(diff.number(m.base_score), diff.number(m.new_score),
      m.delta and m.delta ~= 0 and (" (" .. diff.signed(m.delta) .. ")") or "")
  end
  return table.concat(parts, ", ")
end

-- One line per case: its key, where it is, its verdict when that changed, and the
-- metrics that changed (verdict or score).
local function case_line(c)
  local head = ("case %s (%s)"):format(c.key, where(c))
  if c.change == "new" or c.change == "vanished" then
    local v = c.base_verdict
    if c.change == "new" then v = c.new_verdict end -- (false is a verdict: no `and ... or`)
    return ("%s: %s, %s in %s"):format(head, c.change, diff.verdict(v), c.change == "new" and "NEW" or "BASE")
  end
  local what = {}
  if c.base_verdict ~= c.new_verdict then
    what[1] = ("%s -> %s"):format(diff.verdict(c.base_verdict), diff.verdict(c.new_verdict))
    if c.new_error and c.new_error ~= c.base_error then
      what[1] = what[1] .. (" (error: %s)"):format(c.new_error:gsub("%s+", " "):sub(1, 120))
    end
  end
  for _, m in ipairs(c.metrics or {}) do
    if m.change ~= "same" or (m.delta and m.delta ~= 0) then what[#what + 1] = metric_words(m) end
  end
  if #what == 0 then what[1] = "unchanged" end
  return head .. ": " .. table.concat(what, "; ")
end

local function test_line(t)
  if t.change == "new" then return ("test %s: new, %s"):format(where(t), t.new) end
  if t.change == "vanished" then return ("test %s: vanished (was %s)"):format(where(t), t.base) end
  return ("test %s: %s -> %s"):format(where(t), t.base, t.new)
end

local function metric_line(m)
  local lost = (m.lost or 0) > 0 and (", %d fewer with a verdict"):format(m.lost) or ""
  return ("metric %s: %s -> %s%s%s"):format(m.name, diff.rate_text(m.base), diff.rate_text(m.new),
    m.delta and (", " .. diff.signed(m.delta, true)) or "", lost)
end

--- view.render(d, opts) -> text. opts.color: ANSI colours.
function view.render(d, opts)
  opts = opts or {}
  local function paint(color, text)
    if not opts.color or not color then return text end
    return "\27[" .. COLORS[color] .. "m" .. text .. "\27[0m"
  end
  local out = {}
  local function line(change, text)
    out[#out + 1] = "  " .. paint(COLOR_OF[change], (MARK[change] or " ") .. " " .. markup.line(text))
  end
  out[1] = paint("bold", markup.line(("evalua report diff: BASE %s -> NEW %s"):format(d.base.name or "?",
    d.new.name or "?")))
  local groups = {
    { "Regressions", { regressed = true, vanished = true } },
    { "Fixed", { fixed = true } },
    { "Changed", { changed = true } },
    { "New", { new = true } },
  }
  for _, g in ipairs(groups) do
    local lines = {}
    for _, t in ipairs(d.tests) do if g[2][t.change] then lines[#lines + 1] = { t.change, test_line(t) } end end
    for _, c in ipairs(d.cases) do if g[2][c.change] then lines[#lines + 1] = { c.change, case_line(c) } end end
    for _, m in ipairs(d.metrics) do
      if g[2][m.change] and m.change ~= "new" then lines[#lines + 1] = { m.change, metric_line(m) } end
    end
    if #lines > 0 then
      out[#out + 1] = ""
      out[#out + 1] = paint("bold", ("%s (%d):"):format(g[1], #lines))
      for _, l in ipairs(lines) do line(l[1], l[2]) end
    end
  end
  local scored = {}
  for _, c in ipairs(d.cases) do
    if c.change == "same" then
      for _, m in ipairs(c.metrics or {}) do
        if m.delta and m.delta ~= 0 then scored[#scored + 1] = c break end
      end
    end
  end
  if #scored > 0 then
    out[#out + 1] = ""
    out[#out + 1] = paint("bold", ("Score changes, same verdict (%d):"):format(#scored))
    for _, c in ipairs(scored) do line("changed", case_line(c)) end
  end
  if #d.metrics > 0 then
    out[#out + 1] = ""
    out[#out + 1] = paint("bold", "Pass rate per metric:")
    for _, m in ipairs(d.metrics) do line(m.change, metric_line(m)) end
  end
  for _, sv in ipairs(d.service or {}) do
    out[#out + 1] = ""
    out[#out + 1] = paint("bold", markup.line(("Future AGI's own comparison (eval-summary-comparison), %s, %s: "
      .. "run test %s, execution %s -> %s:"):format(where(sv), sv.run, sv.run_test_id, sv.base_run, sv.new_run)))
    for _, e in ipairs(sv.evals) do out[#out + 1] = "  " .. markup.line(diff_service.words(e)) end
    if #sv.evals == 0 then out[#out + 1] = "  (the service reported no evals)" end
  end
  if d.usage then
    out[#out + 1] = ""
    out[#out + 1] = paint("bold", "Latency, tokens and cost (shown, not judged):")
    out[#out + 1] = "  all runs: " .. diff.usage_words(d.usage.overall)
    for _, u in ipairs(d.usage.runs) do
      out[#out + 1] = "  " .. markup.line(("%s, %s: %s"):format(where(u), u.run, diff.usage_words(u)))
    end
  end
  if #d.unmatched > 0 then
    out[#out + 1] = ""
    out[#out + 1] = paint("bold", ("Could not match (%d):"):format(#d.unmatched))
    for _, u in ipairs(d.unmatched) do
      out[#out + 1] = "  " .. markup.line(("? %s case %s (%s, %s #%d): %s"):format(u.side == "base" and "BASE"
        or "NEW", tostring(u.case or "?"), where(u), u.run or "?", u.position or 0, u.reason or "no key"))
    end
  end
  local s = d.summary
  if s.nothing_matched then
    out[#out + 1] = ""
    out[#out + 1] = paint("red", "No case of BASE could be matched with one of NEW: nothing was compared case by case.")
  end
  out[#out + 1] = ""
  out[#out + 1] = paint(d.regressed and "red" or "green", ("%d regression%s: %d test%s and %d case%s worse, "
    .. "%d vanished, %d metric%s worse; %d fixed; %d new; %d cases compared; %d unmatched")
    :format(s.regressions, s.regressions == 1 and "" or "s", s.tests_regressed, s.tests_regressed == 1 and "" or "s",
      s.cases_regressed, s.cases_regressed == 1 and "" or "s", s.tests_vanished + s.cases_vanished,
      s.metrics_regressed, s.metrics_regressed == 1 and "" or "s", s.tests_fixed + s.cases_fixed,
      s.tests_new + s.cases_new, s.cases_compared, s.unmatched))
  return table.concat(out, "\n") .. "\n"
end

return view
