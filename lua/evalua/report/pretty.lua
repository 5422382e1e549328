-- The human reporter. On a terminal: a status line with the tests running and the
-- remote runs in flight (elapsed time), a line per finished test, colours unless
-- NO_COLOR. Elsewhere: plain lines as tests start and end. Then a summary with
-- failures (file:line, expected/actual, diff) and errors grouped by message. Text from
-- tests and services is shown with its control characters escaped, continuation lines
-- indented: only the reporter's own text starts a line.
local task = require "evalua.task"
local markup = require "evalua.report.markup"
local report = require "evalua.report"
local stats = require "evalua.runner.stats"

local line_of, text_of = markup.line, markup.text

local pretty = {}

local Pretty = {}
Pretty.__index = Pretty

local COLORS = { red = "31", green = "32", yellow = "33", magenta = "35", cyan = "36", dim = "2", bold = "1" }

local SYMBOL = { passed = "✓", flaky = "~", failed = "✗", no_verdict = "?", error = "!", infra = "⚠", skipped = "-" }
local COLOR_OF = { passed = "green", flaky = "yellow", failed = "red", no_verdict = "red", error = "magenta",
                   infra = "yellow", skipped = "dim" }
local WORD = { no_verdict = "no verdict" }

local function plural(n, word)
  return ("%d %s%s"):format(n, word, n == 1 and "" or "s")
end

function pretty.new(sink, opts)
  return setmetatable({ name = "pretty", sink = sink, opts = opts, running = {}, runs = {}, status_shown = false },
    Pretty)
end

function Pretty:paint(color, text)
  if not self.sink.color then return text end
  return "\27[" .. COLORS[color] .. "m" .. text .. "\27[0m"
end

local function elapsed(secs)
  secs = math.floor(secs + 0.5)
  if secs < 60 then return secs .. "s" end
  return ("%dm%02ds"):format(secs // 60, secs % 60)
end

local function duration(d)
  if not d then return "" end
  return d < 1 and ("%dms"):format(math.floor(d * 1000 + 0.5)) or ("%.1fs"):format(d)
end

local function width()
  return tonumber(os.getenv("COLUMNS") or "") or 100
end

-- Terminal only: the line at the bottom, rewritten in place.
function Pretty:status_line()
  local names = {}
  for e in pairs(self.running) do names[#names + 1] = line_of(e.full_name or e.name) end
  table.sort(names)
  local parts = {}
  if #names > 0 then parts[1] = ("%d running: %s"):format(#names, table.concat(names, ", ")) end
  local runs = {}
  for run, info in pairs(self.runs) do
    runs[#runs + 1] = line_of(("%s:%s %s"):format(run.provider or "?", tostring(run.id), run.status or "?"))
      .. " " .. elapsed(task.now() - info.t0)
  end
  table.sort(runs)
  if #runs > 0 then parts[#parts + 1] = ("%d runs: %s"):format(#runs, table.concat(runs, ", ")) end
  local text = table.concat(parts, " | ")
  local w = width() - 1
  if utf8.len(text) and utf8.len(text) > w then text = text:sub(1, utf8.offset(text, w - 1) - 1) .. "…" end
  return text
end

function Pretty:clear_status()
  if self.status_shown then
    self.sink.write("\r\27[K")
    self.status_shown = false
  end
end

function Pretty:redraw()
  if not self.sink.tty or self.done then return end
  local text = self:status_line()
  self.sink.write("\r\27[K" .. self:paint("dim", text))
  self.status_shown = text ~= ""
end

-- Write whole lines: on a terminal, around the status line.
function Pretty:say(text)
  self:clear_status()
  self.sink.write(text .. "\n")
  self:redraw()
end

function Pretty:start()
  if not self.sink.tty then return end
  -- Refresh elapsed times while runs are in flight.
  task.spawn(function()
    while not self.done do
      task.sleep(1)
      self:redraw()
    end
  end)
end

-- "17 tests, 2 thresholds": counted as the summary counts them (repeats under a pass
-- rate apart), so that the header and the footer agree.
local function counted(data)
  local tests, thresholds, reps = 0, 0, 0
  for _, t in ipairs(data.tests) do
    if t.rate_of then reps = reps + 1
    elseif t.kind == "threshold" then thresholds = thresholds + 1
    else tests = tests + 1 end
  end
  local text = plural(tests, data.resumed and "run" or "test")
  if thresholds > 0 then text = text .. ", " .. plural(thresholds, "threshold") end
  if reps > 0 then text = text .. (" (%s)"):format(plural(reps, "repeat")) end
  return text
end

function Pretty:planned(data)
  local files = #(data.files or {})
  self:say(self:paint("bold", ("evalua %s: %s%s%s"):format(data.resumed and "resume" or "test", counted(data),
    files > 0 and (" in %s"):format(plural(files, "file")) or "",
    data.shard and (" (shard %s)"):format(line_of(data.shard)) or "")))
end

function Pretty:test_start(e)
  self.running[e] = true
  if self.sink.tty then self:redraw() else self:say("  … " .. line_of(e.full_name or e.name)) end
end

-- Outside text on lines of its own, each behind `prefix`.
local function indent(text, prefix)
  return prefix .. text_of(text):gsub("\n", "\n" .. prefix)
end

-- One line per attempt of a retried test: what each did.
local function attempt_lines(e, prefix)
  local out = {}
  for _, a in ipairs(e.attempts or {}) do
    local why = a.error and a.error.message or (a.failures and a.failures[1] and a.failures[1].message) or ""
    out[#out + 1] = ("%sattempt %d: %s%s"):format(prefix, a.attempt, WORD[a.outcome] or a.outcome,
      why ~= "" and (": " .. line_of(why:match("^[^\n]*"))) or "")
  end
  return out
end

function Pretty:test_end(e)
  self.running[e] = nil
  local label = line_of(e.full_name or e.name)
  local line = ("  %s%s %s %s"):format(e.rate_of and "  " or "", self:paint(COLOR_OF[e.outcome], SYMBOL[e.outcome]),
    label, self:paint("dim", duration(e.duration)))
  if e.outcome == "skipped" and e.skip_reason then line = line .. self:paint("dim", " (" .. line_of(e.skip_reason) .. ")") end
  if e.outcome == "infra" then line = line .. self:paint("yellow", " infrastructure") end
  if e.outcome == "no_verdict" then line = line .. self:paint("red", " no verdict") end
  if e.outcome == "flaky" then
    line = line .. self:paint("yellow", (" flaky: passed on attempt %d of %d"):format(#e.attempts, (e.retries or 0) + 1))
  end
  if e.kind == "pass_rate" and e.actual then line = line .. self:paint("dim", " " .. line_of(e.actual)) end
  for _, a in ipairs(attempt_lines(e, "      ")) do line = line .. "\n" .. self:paint("dim", a) end
  if e.output then line = line .. "\n" .. self:paint("dim", indent(e.output, "      │ ")) end
  self:say(line)
end

function Pretty:run_event(name, run)
  if name == "run_started" then
    self.runs[run] = { t0 = task.now() }
    if not self.sink.tty then self:say(("      run %s started"):format(line_of(run.provider .. ":" .. tostring(run.id)))) end
  elseif name == "run_finished" then
    local info = self.runs[run]
    self.runs[run] = nil
    if not self.sink.tty then
      self:say(("      run %s%s"):format(line_of(("%s:%s %s"):format(run.provider, tostring(run.id), tostring(run.status))),
        info and (" after " .. elapsed(task.now() - info.t0)) or ""))
    end
  end
  self:redraw()
end

-- Summary ---------------------------------------------------------------------------

-- `label` and `value` (outside text: continuation lines indented under the value).
local function field(label, value)
  return label .. text_of(value):gsub("\n", "\n" .. (" "):rep(utf8.len(label) or #label))
end

function Pretty:failure_lines(out, f)
  out[#out + 1] = indent(f.message, "     ")
  if f.file then out[#out + 1] = self:paint("cyan", ("     at %s:%s"):format(line_of(f.file), f.line or "?")) end
  if f.expected ~= nil then out[#out + 1] = self:paint("green", field("     expected: ", f.expected)) end
  if f.actual ~= nil then out[#out + 1] = self:paint("red", field("     actual:   ", f.actual)) end
  if f.diff then out[#out + 1] = indent(f.diff, "     ") end
end

local function where(e)
  return line_of(e.line and ("%s:%s"):format(e.file, e.line) or e.file)
end

-- Failed tests one by one; errors and infra grouped when their message is the same.
function Pretty:section(out, title, color, tests, grouped)
  if #tests == 0 then return end
  out[#out + 1] = ""
  out[#out + 1] = self:paint(color, self:paint("bold", ("%s (%d)"):format(title, #tests)))
  if not grouped then
    for i, e in ipairs(tests) do
      out[#out + 1] = ("  %d) %s"):format(i, line_of(e.full_name or e.name))
      for _, f in ipairs(e.failures or {}) do self:failure_lines(out, f) end
      for _, a in ipairs(attempt_lines(e, "     ")) do out[#out + 1] = a end
      if e.output then out[#out + 1] = self:paint("dim", indent(e.output, "     │ ")) end
    end
    return
  end
  local groups, order = {}, {}
  for _, e in ipairs(tests) do
    local msg = e.error and e.error.message or "?"
    if not groups[msg] then groups[msg], order[#order + 1] = {}, msg end
    table.insert(groups[msg], e)
  end
  for i, msg in ipairs(order) do
    local list = groups[msg]
    out[#out + 1] = ("  %d) %s%s"):format(i, line_of(msg:match("^[^\n]*")),
      #list > 1 and self:paint("dim", (" (%s)"):format(plural(#list, "test"))) or "")
    local rest = msg:match("\n(.*)$")
    if rest then out[#out + 1] = indent(rest, "     ") end
    for _, e in ipairs(list) do
      out[#out + 1] = ("     - %s %s"):format(line_of(e.full_name or e.name), self:paint("cyan", "(" .. where(e) .. ")"))
      for _, a in ipairs(attempt_lines(e, "       ")) do out[#out + 1] = a end
    end
  end
end

-- The summary's sections: outcome, title, colour, grouped by message.
local SECTIONS = {
  { "failed", "Failures", "red", false },
  { "no_verdict", "No verdict (grade them, or give a pass mark)", "red", false },
  { "flaky", "Flaky (failed, then passed on a retry)", "yellow", false },
  { "error", "Errors (bugs in tests or evalua, or configuration)", "magenta", true },
  { "infra", "Infrastructure (not the agent's fault)", "yellow", true },
}

-- Pass rate and mean score per metric over every run of the session, one test's runs
-- at a time.
local function metrics_of(data)
  local tally = stats.metric_tally()
  for _, f in ipairs(data.files or {}) do tally.add(report.runs(f)) end
  for _, t in ipairs(data.tests) do tally.add(report.runs(t)) end
  return tally.result()
end

function Pretty:finish(data)
  self.done = true
  self:clear_status()
  local by = { failed = {}, no_verdict = {}, flaky = {}, error = {}, infra = {} }
  for _, e in ipairs(data.tests) do
    if by[e.outcome] and not e.rate_of then table.insert(by[e.outcome], e) end
  end
  -- Written section by section: thousands of failures are never one string.
  local out = {}
  local function flush()
    if #out > 0 then self.sink.write(table.concat(out, "\n") .. "\n") end
    out = {}
  end
  for _, sec in ipairs(SECTIONS) do
    self:section(out, sec[2], sec[3], by[sec[1]], sec[4])
    flush()
  end
  local metrics = metrics_of(data)
  if #metrics > 0 then
    out[#out + 1] = ""
    out[#out + 1] = self:paint("bold", "Metrics")
    for _, m in ipairs(metrics) do
      local rate = m.rate and ("%5.1f%% passed (%d/%d)"):format(m.rate * 100, m.passed, m.counted) or "no verdicts"
      local mean = m.mean and (", mean score %.3g"):format(m.mean) or ""
      out[#out + 1] = ("  %-32s %s%s"):format(line_of(m.name), rate, mean)
    end
  end
  local s = data.summary
  out[#out + 1] = ""
  local parts = {}
  for _, o in ipairs({ "passed", "flaky", "failed", "no_verdict", "error", "infra", "skipped" }) do
    local n = s[o] or 0
    local text = ("%d %s"):format(n, WORD[o] or o)
    if n > 0 or (o ~= "flaky" and o ~= "no_verdict") then parts[#parts + 1] = n > 0 and self:paint(COLOR_OF[o], text) or text end
  end
  out[#out + 1] = ("%s: %s %s"):format(self:paint("bold", counted(data)), table.concat(parts, ", "),
    self:paint("dim", ("(%s)"):format(duration(data.duration))))
  if (s.flaky or 0) > 0 and data.fail_on_flaky then
    out[#out + 1] = self:paint("yellow", "flaky tests fail this build (--fail-on-flaky)")
  end
  if (s.no_verdict or 0) > 0 and data.accept_no_verdict then
    out[#out + 1] = self:paint("yellow", "runs without a verdict accepted (--accept-no-verdict)")
  end
  if data.interrupted then out[#out + 1] = self:paint("yellow", "interrupted: the results above are partial") end
  for _, p in ipairs(data.partial or {}) do out[#out + 1] = self:paint("yellow", "partial report: " .. line_of(p)) end
  flush()
end

return pretty
