-- Latency, tokens and cost in the reports: each reporter calls one function of this
-- module, which words the figures of runner.stats' usage summaries (p50/p95/max latency,
-- total tokens, total cost) the same way everywhere. Nothing is shown when no case
-- reports a figure: a report never shows a latency of 0 that no service measured.
local markup = require "evalua.report.markup"
local stats = require "evalua.runner.stats"

local esc, ms = markup.escape, stats.ms

local costs = {}

local function amount(v)
  return ("%.6g"):format(v)
end

local function cases(n)
  return ("%d case%s"):format(n, n == 1 and "" or "s")
end

-- "latency p50 812ms, p95 2.31s, max 2.5s (3 cases); tokens 1234 (in 800, out 434);
-- cost 0.42 USD (3 cases)", or nil when the summary holds no figure.
function costs.line(u)
  if not stats.has_usage(u) then return nil end
  local parts = {}
  local l = u.latency
  if l and l.count == 1 then
    parts[#parts + 1] = "latency " .. ms(l.max)
  elseif l then
    parts[#parts + 1] = ("latency p50 %s, p95 %s, max %s (%s)"):format(ms(l.p50), ms(l.p95), ms(l.max), cases(l.count))
  end
  local t = u.tokens
  if t then
    local split = t.input and t.output and (" (in %s, out %s)"):format(amount(t.input), amount(t.output)) or ""
    parts[#parts + 1] = ("tokens %s%s"):format(amount(t.total), split)
  end
  local c = u.cost
  if c then
    parts[#parts + 1] = ("cost %s%s%s"):format(amount(c.total), c.currency and (" " .. c.currency) or "",
      c.count > 1 and (" (%s)"):format(cases(c.count)) or "")
  end
  return table.concat(parts, "; ")
end

-- The rows a report shows, added up a list of plain runs at a time (a streaming reporter
-- adds one test's runs, then drops them): add(runs), then rows() gives {label, usage}
-- rows: one per run with figures, one per metric (its cases with a verdict), and the
-- total over all runs when there is more than one; none when no case reports a figure.
function costs.tally(runs)
  local per_run, all, metrics, n = {}, stats.usage_tally(), stats.usage_by_metric_tally(), 0
  local t = {}
  function t.add(list)
    for _, run in ipairs(list) do
      local u = stats.usage(run.cases or {})
      if stats.has_usage(u) then
        per_run[#per_run + 1] = { label = ("%s:%s"):format(run.provider or "?", tostring(run.id or "?")), usage = u }
      end
      all.add(run.cases or {})
      n = n + 1
    end
    metrics.add(list)
    return t
  end
  function t.rows()
    if #per_run == 0 then return {} end
    local rows = table.move(per_run, 1, #per_run, 1, {})
    for _, m in ipairs(metrics.result()) do
      if stats.has_usage(m.usage) then rows[#rows + 1] = { label = "metric " .. m.name, usage = m.usage, metric = true } end
    end
    if n > 1 then rows[#rows + 1] = { label = "all runs", usage = all.result(), total = true } end
    return rows
  end
  function t.usage() return all.result() end
  return t.add(runs or {})
end

-- The rows of a list of runs, or of a tally already filled.
function costs.rows(runs)
  return (runs.rows and runs or costs.tally(runs)).rows()
end

-- Pretty: a "Latency, tokens and cost" section of lines (of a list of runs or a tally),
-- appended to `out`.
function costs.pretty(out, runs, paint)
  local rows = costs.rows(runs)
  if #rows == 0 then return end
  out[#out + 1] = ""
  out[#out + 1] = paint("bold", "Latency, tokens and cost")
  for _, r in ipairs(rows) do
    out[#out + 1] = ("  %-32s %s"):format(markup.line(r.label), costs.line(r.usage))
  end
end

-- Whether an owner's (a test entry's, a file's) runs may hold a figure: runs kept as
-- text are looked into without decoding them, so a session without figures costs nothing.
local function may_have_usage(owner)
  local runs = owner.runs
  if type(runs) ~= "string" then return type(runs) == "table" and #runs > 0 end
  return runs:find('"latency_ms":', 1, true) or runs:find('_tokens":', 1, true) or runs:find('"cost":', 1, true)
end

-- A tally of the runs of every owner in `lists` (lists of test entries or files),
-- decoded one owner at a time through runs_of (report.runs).
function costs.owners_tally(runs_of, lists)
  local tally = costs.tally()
  for _, list in ipairs(lists) do
    for _, owner in ipairs(list) do
      if may_have_usage(owner) then tally.add(runs_of(owner)) end
    end
  end
  return tally
end

-- JUnit: `evalua.latency_p50_ms`, ..., `evalua.tokens_total`, `evalua.cost_total` (and
-- `evalua.cost_currency`) properties of a tally's runs, appended to `props` as {name, value}.
function costs.junit_properties(props, tally)
  local u = tally.usage()
  local function add(name, v) if v ~= nil then props[#props + 1] = { "evalua." .. name, v } end end
  if u.latency then
    add("latency_p50_ms", u.latency.p50); add("latency_p95_ms", u.latency.p95); add("latency_max_ms", u.latency.max)
  end
  if u.tokens then add("tokens_total", u.tokens.total) end
  if u.cost then add("cost_total", u.cost.total); add("cost_currency", u.cost.currency) end
  return props
end

-- A run's figures as one text line behind `prefix` ("  futureagi:ID latency ..."), or
-- nil when it has none: for JUnit's <system-out> and TAP comments.
function costs.run_line(run, prefix)
  local line = costs.line(stats.usage(run.cases or {}))
  return line and ("%s%s:%s %s"):format(prefix, run.provider or "?", tostring(run.id or "?"), line)
end

-- A test's runs' figures, a line each ("futureagi:ID latency ..."), control characters
-- escaped: for the pretty test lines and TAP comments.
function costs.run_lines(runs)
  local lines = {}
  for _, run in ipairs(runs or {}) do
    local line = costs.run_line(run, "")
    if line then lines[#lines + 1] = markup.line(line) end
  end
  return lines
end

-- The figures of an owner's runs, a line each, its runs read through runs_of
-- (report.runs) only when they may hold any.
function costs.owner_lines(owner, runs_of)
  return may_have_usage(owner) and costs.run_lines(runs_of(owner)) or {}
end

-- TAP: a test's runs' figures as comment lines ("" when none).
function costs.tap(owner, runs_of)
  local lines = costs.owner_lines(owner, runs_of)
  return #lines > 0 and "# " .. table.concat(lines, "\n# ") .. "\n" or ""
end

-- HTML: a "Latency, tokens and cost" section (of a list of runs or a tally), one table
-- row per run, metric and total.
function costs.html(out, runs)
  local rows = costs.rows(runs)
  if #rows == 0 then return end
  out[#out + 1] = '<section id="usage"><h2>Latency, tokens and cost</h2><table><thead><tr><th>run / metric</th>'
    .. "<th>latency p50</th><th>p95</th><th>max</th><th>tokens</th><th>cost</th></tr></thead><tbody>"
  for _, r in ipairs(rows) do
    local l, t, c = r.usage.latency, r.usage.tokens, r.usage.cost
    out[#out + 1] = ('<tr class="%s"><td>%s</td><td class="p50">%s</td><td class="p95">%s</td><td class="max">%s</td>'
      .. '<td class="tokens">%s</td><td class="cost">%s</td></tr>'):format(r.total and "usage-total" or r.metric
      and "usage-metric" or "usage-run", esc(r.label), l and ms(l.p50) or "–", l and ms(l.p95) or "–",
      l and ms(l.max) or "–", t and amount(t.total) or "–",
      c and esc(amount(c.total) .. (c.currency and (" " .. c.currency) or "")) or "–")
  end
  out[#out + 1] = "</tbody></table></section>"
end

-- HTML: a case's own figures inside its details ("" when it has none).
function costs.html_case(out, case)
  local line = costs.line(stats.usage({ case }))
  if line then out[#out + 1] = ('<div class="usage"><b>latency, tokens, cost</b><pre>%s</pre></div>'):format(esc(line)) end
end

return costs
