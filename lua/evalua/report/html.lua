-- One self-contained HTML page (no network) to read after a session: summary with
-- pass rates, a bar chart of pass rate per metric, score histograms (inline SVG), the
-- tests, and a filterable table of cases with failing metrics highlighted and each
-- case's conversation expandable. The page is complete without JavaScript; the small
-- inline script only filters (also from a `#filter=TEXT&outcome=failed` fragment).
local markup = require "evalua.report.markup"
local report = require "evalua.report"
local diff = require "evalua.runner.diff"
local stats = require "evalua.runner.stats"

local esc = markup.escape
local redact = require("evalua.redact").redact

-- The lower-cased text a row is filtered by: masked first, so that no secret is
-- lower-cased past the redaction.
local function search_text(s)
  return esc(redact(s):lower())
end

local html = {}

local CSS = [[
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c5cad3}main{padding:16px 24px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:0 0 16px;padding:12px 16px}
h2{font-size:16px;margin:0 0 8px}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #dde1e7;border-radius:6px;padding:8px 14px;min-width:90px}
.card b{display:block;font-size:22px}.passed{color:#17803d}.failed{color:#c42b1c}.error{color:#8e3bb5}
.infra{color:#a86400}.skipped{color:#6b7280}.flaky{color:#b7791f}.no_verdict{color:#c42b1c}
.attempts{margin:2px 0 0;padding-left:18px;font-size:12px}tr.repeat td:nth-child(2){padding-left:24px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f0f2f5}.metric{display:inline-block;border-radius:3px;padding:0 6px;margin:1px;font-size:12px}
.metric.pass{background:#dcf5e3}.metric.fail{background:#fbd9d5;font-weight:bold}.metric.none{background:#eceef2}
tr.case-fail{background:#fff6f5}pre{white-space:pre-wrap;margin:4px 0;font:12px/1.4 ui-monospace,monospace}
.turn{margin:2px 0}.role{font-weight:bold;margin-right:6px}.hists{display:flex;flex-wrap:wrap;gap:16px}
#controls{display:flex;gap:8px;align-items:center;margin-bottom:8px}#controls input{flex:1;padding:4px 8px}
.hidden{display:none}.partial{background:#fff3cd;border:1px solid #d99a00;padding:6px 12px;margin:0 0 12px}
]]
html.CSS = CSS -- the diff view (report/diff_html.lua) shares the look

local JS = [[
(function(){
  var input=document.getElementById('filter'),sel=document.getElementById('outcome');
  function apply(){
    var q=input.value.toLowerCase(),o=sel.value,shown=0,total=0;
    document.querySelectorAll('[data-text]').forEach(function(row){
      var ok=(!q||row.getAttribute('data-text').indexOf(q)>=0)&&(!o||row.getAttribute('data-outcome')===o);
      row.classList.toggle('hidden',!ok);
      if(row.classList.contains('case-row')){total++;if(ok)shown++;}
    });
    document.getElementById('shown').textContent=shown+' of '+total+' cases shown';
  }
  function fromHash(){
    var h=new URLSearchParams(location.hash.replace(/^#/,''));
    if(h.has('filter'))input.value=h.get('filter');
    if(h.has('outcome'))sel.value=h.get('outcome');
    apply();
  }
  input.addEventListener('input',apply);sel.addEventListener('change',apply);
  window.addEventListener('hashchange',fromHash);fromHash();
})();
]]

local function pct(r) return r and ("%.1f%%"):format(r * 100) or "–" end

-- What holds runs, in the page's order: the files (runs started outside tests), then
-- the tests; each with the label its cases are shown under.
local function owners(data)
  local list = {}
  for _, f in ipairs(data.files or {}) do list[#list + 1] = { owner = f, label = f.path } end
  for _, t in ipairs(data.tests) do list[#list + 1] = { owner = t, label = t.full_name or t.name } end
  return list
end

-- The per-metric summary and the case pass rate over every run, one owner at a time.
local function tally_runs(list)
  local tally, passed, counted = stats.metric_tally(), 0, 0
  for _, item in ipairs(list) do
    local runs = report.runs(item.owner)
    tally.add(runs)
    local _, p, n = stats.pass_rate(runs)
    passed, counted = passed + p, counted + n
  end
  return tally.result(), passed, counted
end

local function summary(out, data, passed, counted)
  local s = data.summary
  local judged = s.passed + (s.flaky or 0) + s.failed
  local case_rate = counted > 0 and passed / counted or nil
  out[#out + 1] = '<section id="summary"><h2>Summary</h2><div class="cards">'
  local cards = {
    { "total", "tests", s.total, "" }, { "passed", "passed", s.passed, "passed" },
    { "failed", "failed", s.failed, "failed" }, { "error", "errors", s.error, "error" },
    { "infra", "infra", s.infra, "infra" }, { "skipped", "skipped", s.skipped, "skipped" },
    { "flaky", "flaky", s.flaky or 0, "flaky" }, { "no_verdict", "no verdict", s.no_verdict or 0, "no_verdict" },
    { "test-pass-rate", "test pass rate", judged > 0 and pct((s.passed + (s.flaky or 0)) / judged) or "–", "" },
    { "case-pass-rate", ("case pass rate (%d/%d)"):format(passed, counted), pct(case_rate), "" },
  }
  for _, c in ipairs(cards) do
    out[#out + 1] = ('<div class="card %s"><b id="%s">%s</b>%s</div>'):format(c[4], c[1], esc(c[3]), esc(c[2]))
  end
  out[#out + 1] = "</div></section>"
end

local BAR_W, ROW_H, LABEL_W = 360, 22, 230

local function metric_chart(out, metrics)
  local rows = {}
  for _, m in ipairs(metrics) do
    if m.rate then rows[#rows + 1] = m end
  end
  if #rows == 0 then return end
  local h = #rows * ROW_H + 10
  out[#out + 1] = '<section id="metrics"><h2>Pass rate per metric</h2>'
  out[#out + 1] = ('<svg role="img" aria-label="pass rate per metric" width="%d" height="%d">')
    :format(LABEL_W + BAR_W + 120, h)
  for i, m in ipairs(rows) do
    local y = (i - 1) * ROW_H + 4
    out[#out + 1] = ('<g class="bar" data-metric="%s" data-rate="%.6f" data-passed="%d" data-counted="%d">')
      :format(esc(m.name), m.rate, m.passed, m.counted)
    out[#out + 1] = ('<text x="0" y="%d" font-size="12">%s</text>'):format(y + 14, esc(m.name))
    out[#out + 1] = ('<rect x="%d" y="%d" width="%d" height="16" fill="#eceef2"/>'):format(LABEL_W, y, BAR_W)
    out[#out + 1] = ('<rect x="%d" y="%d" width="%.1f" height="16" fill="%s"/>')
      :format(LABEL_W, y, BAR_W * m.rate, m.rate >= 0.8 and "#2f9e55" or m.rate >= 0.5 and "#d99a00" or "#d0412f")
    out[#out + 1] = ('<text x="%d" y="%d" font-size="12">%s (%d/%d)</text></g>')
      :format(LABEL_W + BAR_W + 6, y + 14, pct(m.rate), m.passed, m.counted)
  end
  out[#out + 1] = "</svg></section>"
end

local BINS, HIST_W, HIST_H = 10, 220, 80

local AXIS_W, COUNT_H = 34, 12 -- room for the count axis on the left, counts above bars

-- Smallest and largest of a list of any length (table.unpack would overflow the stack).
local function range(list, lo, hi)
  for _, v in ipairs(list) do
    if v < lo then lo = v end
    if v > hi then hi = v end
  end
  return lo, hi
end

-- One metric's score histogram (inline SVG): ten bins with their counts, a count axis
-- and the score range; `m` is a stats.by_metric entry, of any number of scores.
function html.histogram(out, m)
  local lo, hi = range(m.scores, 0, 1)
  local counts, top = {}, 0
  for i = 1, BINS do counts[i] = 0 end
  for _, s in ipairs(m.scores) do
    local b = math.min(BINS, math.floor((s - lo) / (hi - lo) * BINS) + 1)
    counts[b] = counts[b] + 1
  end
  for _, c in ipairs(counts) do top = math.max(top, c) end
  local w, h = AXIS_W + HIST_W, COUNT_H + HIST_H + 28
  out[#out + 1] = ('<figure class="hist" data-metric="%s" data-count="%d"><svg width="%d" height="%d" role="img" '
    .. 'aria-label="score distribution of %s">'):format(esc(m.name), #m.scores, w, h, esc(m.name))
  local base, bw = COUNT_H + HIST_H, HIST_W / BINS
  -- count axis: 0 and the tallest bar's count
  out[#out + 1] = ('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#6b7280"/><line x1="%d" y1="%d" x2="%d" y2="%d" '
    .. 'stroke="#6b7280"/>'):format(AXIS_W - 2, COUNT_H, AXIS_W - 2, base, AXIS_W - 2, base, w, base)
  out[#out + 1] = ('<text x="%d" y="%d" font-size="10" text-anchor="end">%d</text><text x="%d" y="%d" font-size="10" '
    .. 'text-anchor="end">0</text>'):format(AXIS_W - 5, COUNT_H + 8, top, AXIS_W - 5, base)
  for i, c in ipairs(counts) do
    local bh = top > 0 and c / top * HIST_H or 0
    local x = AXIS_W + (i - 1) * bw
    out[#out + 1] = ('<g class="bin" data-count="%d"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a6fd1">'
      .. '<title>%d scores from %.3g to %.3g</title></rect>'):format(c, x + 1, base - bh, bw - 2, bh, c,
      lo + (i - 1) * (hi - lo) / BINS, lo + i * (hi - lo) / BINS)
    if c > 0 then
      out[#out + 1] = ('<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">%d</text>')
        :format(x + bw / 2, base - bh - 2, c)
    end
    out[#out + 1] = "</g>"
  end
  out[#out + 1] = ('<text x="%d" y="%d" font-size="10">%.3g</text><text x="%d" y="%d" font-size="10" '
    .. 'text-anchor="end">%.3g</text><text x="%d" y="%d" font-size="10" text-anchor="middle">score</text></svg>')
    :format(AXIS_W, base + 12, lo, w, base + 12, hi, AXIS_W + HIST_W // 2, base + 24)
  out[#out + 1] = ("<figcaption>%s: %d scores, mean %.3g</figcaption></figure>"):format(esc(m.name), #m.scores, m.mean)
end

local function histograms(out, metrics)
  local any = false
  for _, m in ipairs(metrics) do any = any or #m.scores > 0 end
  if not any then return end
  out[#out + 1] = '<section id="scores"><h2>Score distributions</h2><div class="hists">'
  for _, m in ipairs(metrics) do
    if #m.scores > 0 then html.histogram(out, m) end
  end
  out[#out + 1] = "</div></section>"
end

local function message(t)
  if t.error then return t.error.message end
  if t.failures and t.failures[1] then return t.failures[1].message end
  return t.skip_reason or ""
end

local WORD = { no_verdict = "no verdict" }

-- A retried test's attempts, one line each.
local function attempts(t)
  if not t.attempts or #t.attempts == 0 then return "" end
  local items = {}
  for _, a in ipairs(t.attempts) do
    local why = a.error and a.error.message or (a.failures and a.failures[1] and a.failures[1].message) or ""
    items[#items + 1] = ('<li class="%s">attempt %d: %s%s</li>'):format(a.outcome, a.attempt,
      WORD[a.outcome] or a.outcome, why ~= "" and (": " .. esc(why:match("^[^\n]*"))) or "")
  end
  return '<ol class="attempts">' .. table.concat(items) .. "</ol>"
end

local function tests_table(write, data)
  write('<section id="tests"><h2>Tests</h2><table><thead><tr><th>outcome</th><th>test</th>'
    .. "<th>where</th><th>time</th><th>message</th></tr></thead><tbody>\n")
  for _, t in ipairs(data.tests) do
    local name = t.full_name or t.name
    local shown = message(t) .. (t.kind == "pass_rate" and t.actual and t.outcome == "passed" and t.actual or "")
    write(('<tr class="test-row%s" data-outcome="%s" data-text="%s"><td class="%s">%s</td><td>%s</td>'
      .. "<td>%s</td><td>%s</td><td><pre>%s</pre>%s%s</td></tr>\n"):format(t.rate_of and " repeat" or "",
      t.outcome, search_text(name .. " " .. t.file .. " " .. message(t)), t.outcome,
      WORD[t.outcome] or t.outcome, esc(name),
      esc(t.file .. (t.line and (":" .. t.line) or "")), t.duration and ("%.2fs"):format(t.duration) or "",
      esc(shown), attempts(t),
      t.output and ("<details><summary>output</summary><pre>%s</pre></details>"):format(esc(t.output)) or ""))
  end
  write("</tbody></table></section>\n")
end

local function show(v)
  if type(v) == "table" then return diff.show(v) end
  return tostring(v)
end

local function conversation(out, transcript)
  if type(transcript) ~= "table" then
    if transcript then out[#out + 1] = ("<pre>%s</pre>"):format(esc(transcript)) end
    return
  end
  for _, turn in ipairs(transcript) do
    if type(turn) == "table" then
      out[#out + 1] = ('<div class="turn"><span class="role">%s</span>%s</div>')
        :format(esc(turn.role or turn.speaker or "?"), esc(show(turn.content or turn.text or turn.message or "")))
    else
      out[#out + 1] = ('<div class="turn">%s</div>'):format(esc(show(turn)))
    end
  end
end

local function case_details(out, case)
  out[#out + 1] = "<details><summary>details</summary>"
  for k, v in pairs(case.inputs or {}) do
    out[#out + 1] = ("<div><b>input %s</b><pre>%s</pre></div>"):format(esc(k), esc(show(v)))
  end
  local o = case.outputs or {}
  for _, k in ipairs({ "response", "topic", "actions" }) do
    if o[k] ~= nil then out[#out + 1] = ("<div><b>%s</b><pre>%s</pre></div>"):format(k, esc(show(o[k]))) end
  end
  if o.transcript then
    out[#out + 1] = '<div class="conversation"><b>conversation</b>'
    conversation(out, o.transcript)
    out[#out + 1] = "</div>"
  end
  if stats.present(case.error) then out[#out + 1] = ("<div><b>error</b><pre>%s</pre></div>"):format(esc(show(case.error))) end
  for _, m in ipairs(stats.metrics(case)) do
    local parts = {}
    for _, k in ipairs({ "score", "label", "expected", "actual", "reason" }) do
      if m[k] ~= nil then parts[#parts + 1] = k .. ": " .. show(m[k]) end
    end
    out[#out + 1] = ("<div><b>%s</b><pre>%s</pre></div>"):format(esc(m.name), esc(table.concat(parts, "\n")))
  end
  out[#out + 1] = "</details>"
end

local function metric_chip(m)
  local flag = stats.flag(m.passed)
  local cls = flag == true and "pass" or flag == false and "fail" or "none"
  local score = stats.number(m.score) and (" %.3g"):format(m.score) or ""
  return ('<span class="metric %s" data-metric="%s">%s%s</span>'):format(cls, esc(m.name), esc(m.name), score)
end

-- The outcome filter: cases are passed, failed or none (no verdict); tests have all
-- the session's outcomes. `#outcome=infra` selects the infra tests.
local OUTCOME_OPTIONS = '<option value="passed">passed</option><option value="flaky">flaky</option>'
  .. '<option value="failed">failed</option><option value="none">case without a verdict</option>'
  .. '<option value="no_verdict">run without a verdict</option><option value="error">error</option>'
  .. '<option value="infra">infra</option><option value="skipped">skipped</option>'

-- The rows of one run's cases, shown under `label` (the test or file holding it).
local function case_rows(out, label, run)
  for i, case in ipairs(run.cases or {}) do
    local verdict = stats.case_verdict(case)
    local outcome = verdict == true and "passed" or verdict == false and "failed" or "none"
    local chips, text = {}, { label, run.provider or "", run.id or "", case.name or "", case.status or "" }
    for _, m in ipairs(stats.metrics(case)) do
      chips[#chips + 1] = metric_chip(m)
      text[#text + 1] = m.name
    end
    text[#text + 1] = show((case.outputs or {}).response or "")
    for _, v in pairs(case.inputs or {}) do text[#text + 1] = show(v) end
    out[#out + 1] = ('<tr class="case-row%s" data-outcome="%s" data-text="%s"><td>%s</td><td>%s:%s</td><td>%s</td>'
      .. "<td>%s</td><td>%s</td><td>"):format(outcome == "failed" and " case-fail" or "", outcome,
      search_text(table.concat(text, " ")), esc(label), esc(run.provider or "?"), esc(run.id or "?"),
      esc(case.name or i), esc(case.status or ""), table.concat(chips))
    case_details(out, case)
    out[#out + 1] = "</td></tr>"
  end
end

-- The cases of every run, written one owner (test or file) at a time.
local function cases_table(write, list)
  write('<section id="cases"><h2>Cases</h2><div id="controls"><input id="filter" type="search" '
    .. 'placeholder="filter: test, case, metric, text…"><select id="outcome"><option value="">all</option>'
    .. OUTCOME_OPTIONS .. '</select><span id="shown"></span></div>\n')
  write("<table><thead><tr><th>test</th><th>run</th><th>case</th><th>status</th><th>metrics</th>"
    .. "<th></th></tr></thead><tbody>\n")
  for _, item in ipairs(list) do
    local out = {}
    for _, run in ipairs(report.runs(item.owner)) do case_rows(out, item.label, run) end
    if #out > 0 then write(table.concat(out, "\n") .. "\n") end
  end
  write("</tbody></table></section>\n")
end

-- The page, written piece by piece through `write`.
function html.write(data, write)
  local list = owners(data)
  local metrics, passed, counted = tally_runs(list)
  local out = { "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>evalua report</title><style>" .. CSS .. "</style></head><body>",
    ("<header><h1>evalua report</h1><p>%s · %.1fs%s%s%s</p></header><main>"):format(
      esc(data.started_at or ""), data.duration or 0, data.shard and (" · shard " .. esc(data.shard)) or "",
      data.merged and (" · merged from %d reports"):format(data.merged) or "",
      data.interrupted and " · interrupted (partial)" or "") }
  for _, p in ipairs(data.partial or {}) do
    out[#out + 1] = ('<p class="partial" role="alert"><b>partial report:</b> %s</p>'):format(esc(p))
  end
  summary(out, data, passed, counted)
  metric_chart(out, metrics)
  histograms(out, metrics)
  write(table.concat(out, "\n") .. "\n")
  cases_table(write, list)
  tests_table(write, data)
  write("</main><script>" .. JS .. "</script></body></html>\n")
end

function html.new(sink)
  return { name = "html", finish = function(_, data) html.write(data, sink.write) end }
end

return html
