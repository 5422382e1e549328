--- The HTML view of `evalua report diff`: one self-contained page (no script, no network)
-- with the counts, the pass rate of every metric in BASE and NEW, and a side-by-side
-- table of tests and cases, regressions first.
local diff = require "evalua.report.diff"
local diff_service = require "evalua.report.diff_service"
local markup = require "evalua.report.markup"

local esc = markup.escape

local view = {}

-- The session report's style, and the diff's own rows.
local CSS = require("evalua.report.html").CSS .. [[
td.side{width:30%}td.key{min-width:14em}tr.regressed,tr.vanished{background:#fff1ef}tr.fixed{background:#effaf2}
tr.new{background:#fffbea}.change{font-weight:bold;white-space:nowrap}.regressed .change,.vanished .change{color:#c42b1c}
.fixed .change{color:#17803d}.delta{font-size:12px;color:#6b7280}
]]

local function metric_chip(name, passed, score)
  local cls = passed == true and "pass" or passed == false and "fail" or "none"
  return ('<span class="metric %s">%s %s%s</span>'):format(cls, esc(name), diff.verdict(passed),
    score and (" " .. esc(diff.number(score))) or "")
end

-- The BASE or NEW cell of a case: its verdict and metrics.
local function case_side(c, side)
  local verdict = c[side .. "_verdict"] -- (false is a verdict: no `and ... or`)
  local present = (side == "base" and c.change ~= "new") or (side == "new" and c.change ~= "vanished")
  if not present then return '<td class="side">–</td>' end
  local parts = { ("<b>%s</b> "):format(diff.verdict(verdict)) }
  local err = c[side .. "_error"]
  if err then parts[#parts + 1] = ('<div class="delta">error: %s</div>'):format(esc(err)) end
  for _, m in ipairs(c.metrics or {}) do
    if m.only ~= (side == "base" and "new" or "base") then
      parts[#parts + 1] = metric_chip(m.name, m[side .. "_passed"], m[side .. "_score"])
    end
  end
  return '<td class="side">' .. table.concat(parts) .. "</td>"
end

local function deltas(c)
  local parts = {}
  for _, m in ipairs(c.metrics or {}) do
    if m.delta and m.delta ~= 0 then parts[#parts + 1] = esc(m.name) .. " " .. esc(diff.signed(m.delta)) end
  end
  if #parts == 0 then return "" end
  return '<div class="delta">' .. table.concat(parts, ", ") .. "</div>"
end

local function row(out, item, kind)
  out[#out + 1] = ('<tr class="%s" data-kind="%s" data-change="%s">'):format(item.change, kind, item.change)
  out[#out + 1] = ('<td class="change">%s</td>'):format(esc(item.change))
  if kind == "test" then
    out[#out + 1] = ("<td>%s</td><td>%s</td><td>(test)</td>"):format(esc(item.file or ""), esc(item.name))
    out[#out + 1] = ('<td class="side">%s</td><td class="side">%s</td>'):format(esc(item.base or "–"),
      esc(item.new or "–"))
  else
    out[#out + 1] = ('<td>%s</td><td>%s</td><td class="key">%s%s</td>'):format(esc(item.file or ""), esc(item.test or ""),
      esc(item.key), deltas(item))
    out[#out + 1] = case_side(item, "base") .. case_side(item, "new")
  end
  out[#out + 1] = "</tr>"
end

--- view.render(d) -> an HTML document.
function view.render(d)
  local s = d.summary
  local out = {
    "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
    "<title>evalua report diff</title><style>" .. CSS .. "</style></head><body>",
    ("<header><h1>evalua report diff</h1><p>BASE %s%s &rarr; NEW %s%s</p></header><main>"):format(
      esc(d.base.name or "?"), d.base.started_at and (" (" .. esc(d.base.started_at) .. ")") or "",
      esc(d.new.name or "?"), d.new.started_at and (" (" .. esc(d.new.started_at) .. ")") or ""),
    '<section id="summary"><h2>Summary</h2><div class="cards">',
  }
  local cards = {
    { "regressions", "regressions", s.regressions }, { "fixed", "fixed", s.tests_fixed + s.cases_fixed },
    { "vanished", "vanished", s.tests_vanished + s.cases_vanished }, { "new", "new", s.tests_new + s.cases_new },
    { "compared", "cases compared", s.cases_compared }, { "unmatched", "unmatched", s.unmatched },
  }
  for _, c in ipairs(cards) do
    out[#out + 1] = ('<div class="card"><b id="%s">%d</b>%s</div>'):format(c[1], c[3], c[2])
  end
  local verdict = s.nothing_matched and "Regressed: no case could be matched"
    or d.regressed and "Regressed" or "No regression"
  out[#out + 1] = ('</div><p id="verdict">%s</p></section>'):format(verdict)
  out[#out + 1] = '<section id="metrics"><h2>Pass rate per metric</h2><table><tr><th>change</th><th>metric</th>'
    .. "<th>BASE</th><th>NEW</th><th>delta</th></tr>"
  for _, m in ipairs(diff.sorted(d.metrics)) do
    out[#out + 1] = ('<tr class="%s" data-metric="%s" data-change="%s"><td class="change">%s</td><td>%s</td>'
      .. '<td class="side">%s</td><td class="side">%s</td><td>%s</td></tr>'):format(m.change, esc(m.name), m.change,
      esc(m.change), esc(m.name), esc(diff.rate_text(m.base)), esc(diff.rate_text(m.new)),
      esc(diff.signed(m.delta, true) .. ((m.lost or 0) > 0 and (", %d fewer with a verdict"):format(m.lost) or "")))
  end
  out[#out + 1] = "</table></section>"
  out[#out + 1] = '<section id="changes"><h2>Tests and cases, side by side</h2><table><tr><th>change</th>'
    .. "<th>file</th><th>test</th><th>case</th><th>BASE</th><th>NEW</th></tr>"
  local items = {}
  for _, t in ipairs(d.tests) do items[#items + 1] = { item = t, kind = "test", change = t.change } end
  for _, c in ipairs(d.cases) do items[#items + 1] = { item = c, kind = "case", change = c.change } end
  for _, x in ipairs(diff.sorted(items)) do row(out, x.item, x.kind) end
  out[#out + 1] = "</table></section>"
  for _, sv in ipairs(d.service or {}) do
    out[#out + 1] = ('<section class="service" data-run-test="%s"><h2>Future AGI\'s own comparison</h2><p>%s: %s, '
      .. "%s: run test %s, execution %s &rarr; %s</p><ul>"):format(esc(sv.run_test_id), esc(sv.file or "?"),
      esc(sv.test or "?"), esc(sv.run), esc(sv.run_test_id), esc(sv.base_run), esc(sv.new_run))
    for _, e in ipairs(sv.evals) do out[#out + 1] = "<li>" .. esc(diff_service.words(e)) .. "</li>" end
    out[#out + 1] = "</ul></section>"
  end
  if d.usage then
    out[#out + 1] = '<section id="usage"><h2>Latency, tokens and cost</h2><table><tr><th>runs</th><th>BASE &rarr; NEW'
      .. "</th></tr>"
    out[#out + 1] = ('<tr data-usage="all"><td>all runs</td><td>%s</td></tr>'):format(esc(diff.usage_words(d.usage.overall)))
    for _, u in ipairs(d.usage.runs) do
      out[#out + 1] = ("<tr><td>%s: %s, %s</td><td>%s</td></tr>"):format(esc(u.file or "?"), esc(u.test or "?"),
        esc(u.run), esc(diff.usage_words(u)))
    end
    out[#out + 1] = "</table></section>"
  end
  if #d.unmatched > 0 then
    out[#out + 1] = '<section id="unmatched"><h2>Could not match</h2><table><tr><th>report</th><th>test</th>'
      .. "<th>case</th><th>why</th></tr>"
    for _, u in ipairs(d.unmatched) do
      out[#out + 1] = ('<tr data-unmatched="%s"><td>%s</td><td>%s</td><td>%s (%s #%d)</td><td>%s</td></tr>'):format(
        u.side, u.side == "base" and "BASE" or "NEW", esc(u.test or ""), esc(u.case or "?"), esc(u.run or "?"),
        u.position or 0, esc(u.reason or ""))
    end
    out[#out + 1] = "</table></section>"
  end
  out[#out + 1] = "</main></body></html>\n"
  return table.concat(out, "\n")
end

return view
