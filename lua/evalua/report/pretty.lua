-- The human reporter. On a terminal: a status line with the tests running and the
-- remote runs in flight (elapsed time), a line per finished test, colours unless
-- NO_COLOR. Elsewhere: plain lines as tests start and end. Then a summary with
-- failures (file:line, expected/actual, diff) and errors grouped by message.
local task = require "evalua.task"
local stats = require "evalua.runner.stats"

local pretty = {}

local Pretty = {}
Pretty.__index = Pretty

local COLORS = { red = "31", green = "32", yellow = "33", magenta = "35", cyan = "36", dim = "2", bold = "1" }

local SYMBOL = { passed = "✓", failed = "✗", error = "!", infra = "⚠", skipped = "-" }
local COLOR_OF = { passed = "green", failed = "red", error = "magenta", infra = "yellow", skipped = "dim" }

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
  for e in pairs(self.running) do names[#names + 1] = e.full_name or e.name end
  table.sort(names)
  local parts = {}
  if #names > 0 then parts[1] = ("%d running: %s"):format(#names, table.concat(names, ", ")) end
  local runs = {}
  for run, info in pairs(self.runs) do
    runs[#runs + 1] = ("%s:%s %s %s"):format(run.provider or "?", tostring(run.id), run.status or "?",
      elapsed(task.now() - info.t0))
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

function Pretty:planned(data)
  local files = #(data.files or {})
  local n = 0
  for _, t in ipairs(data.tests) do
    if t.kind == "test" then n = n + 1 end
  end
  self:say(self:paint("bold", ("evalua test: %d tests%s%s"):format(n,
    files > 0 and (" in %d files"):format(files) or "",
    data.shard and (" (shard %s)"):format(data.shard) or "")))
end

function Pretty:test_start(e)
  self.running[e] = true
  if self.sink.tty then self:redraw() else self:say("  … " .. (e.full_name or e.name)) end
end

local function indent(text, prefix)
  return prefix .. tostring(text):gsub("\n", "\n" .. prefix)
end

function Pretty:test_end(e)
  self.running[e] = nil
  local label = e.full_name or e.name
  local line = ("  %s %s %s"):format(self:paint(COLOR_OF[e.outcome], SYMBOL[e.outcome]), label,
    self:paint("dim", duration(e.duration)))
  if e.outcome == "skipped" and e.skip_reason then line = line .. self:paint("dim", " (" .. e.skip_reason .. ")") end
  if e.outcome == "infra" then line = line .. self:paint("yellow", " infrastructure") end
  if e.output then line = line .. "\n" .. self:paint("dim", indent(e.output, "      │ ")) end
  self:say(line)
end

function Pretty:run_event(name, run)
  if name == "run_started" then
    self.runs[run] = { t0 = task.now() }
    if not self.sink.tty then self:say(("      run %s:%s started"):format(run.provider, tostring(run.id))) end
  elseif name == "run_finished" then
    local info = self.runs[run]
    self.runs[run] = nil
    if not self.sink.tty then
      self:say(("      run %s:%s %s%s"):format(run.provider, tostring(run.id), tostring(run.status),
        info and (" after " .. elapsed(task.now() - info.t0)) or ""))
    end
  end
  self:redraw()
end

-- Summary ---------------------------------------------------------------------------

function Pretty:failure_lines(out, f)
  out[#out + 1] = indent(f.message, "     ")
  if f.file then out[#out + 1] = self:paint("cyan", ("     at %s:%s"):format(f.file, f.line or "?")) end
  if f.expected ~= nil then out[#out + 1] = "     expected: " .. self:paint("green", f.expected) end
  if f.actual ~= nil then out[#out + 1] = "     actual:   " .. self:paint("red", f.actual) end
  if f.diff then out[#out + 1] = "     " .. f.diff end
end

local function where(e)
  return e.line and ("%s:%s"):format(e.file, e.line) or e.file
end

-- Failed tests one by one; errors and infra grouped when their message is the same.
function Pretty:section(out, title, color, tests, grouped)
  if #tests == 0 then return end
  out[#out + 1] = ""
  out[#out + 1] = self:paint(color, self:paint("bold", ("%s (%d)"):format(title, #tests)))
  if not grouped then
    for i, e in ipairs(tests) do
      out[#out + 1] = ("  %d) %s"):format(i, e.full_name or e.name)
      for _, f in ipairs(e.failures or {}) do self:failure_lines(out, f) end
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
    out[#out + 1] = ("  %d) %s%s"):format(i, msg:match("^[^\n]*"),
      #list > 1 and self:paint("dim", (" (%d tests)"):format(#list)) or "")
    local rest = msg:match("\n(.*)$")
    if rest then out[#out + 1] = indent(rest, "     ") end
    for _, e in ipairs(list) do
      out[#out + 1] = ("     - %s %s"):format(e.full_name or e.name, self:paint("cyan", "(" .. where(e) .. ")"))
    end
  end
end

local function all_runs(data)
  local runs = {}
  for _, f in ipairs(data.files or {}) do
    for _, r in ipairs(f.runs or {}) do runs[#runs + 1] = r end
  end
  for _, t in ipairs(data.tests) do
    for _, r in ipairs(t.runs or {}) do runs[#runs + 1] = r end
  end
  return runs
end

function Pretty:finish(data)
  self.done = true
  self:clear_status()
  local by = { failed = {}, error = {}, infra = {} }
  for _, e in ipairs(data.tests) do
    if by[e.outcome] then table.insert(by[e.outcome], e) end
  end
  local out = {}
  self:section(out, "Failures", "red", by.failed, false)
  self:section(out, "Errors (bugs in tests or evalua, or configuration)", "magenta", by.error, true)
  self:section(out, "Infrastructure (not the agent's fault)", "yellow", by.infra, true)
  local metrics = stats.by_metric(all_runs(data))
  if #metrics > 0 then
    out[#out + 1] = ""
    out[#out + 1] = self:paint("bold", "Metrics")
    for _, m in ipairs(metrics) do
      local rate = m.rate and ("%5.1f%% passed (%d/%d)"):format(m.rate * 100, m.passed, m.counted) or "no verdicts"
      local mean = m.mean and (", mean score %.3g"):format(m.mean) or ""
      out[#out + 1] = ("  %-32s %s%s"):format(m.name, rate, mean)
    end
  end
  local s = data.summary
  out[#out + 1] = ""
  local parts = {}
  for _, o in ipairs({ "passed", "failed", "error", "infra", "skipped" }) do
    local text = ("%d %s"):format(s[o], o)
    parts[#parts + 1] = s[o] > 0 and self:paint(COLOR_OF[o], text) or text
  end
  out[#out + 1] = ("%s: %s %s"):format(self:paint("bold", ("%d tests"):format(s.total)), table.concat(parts, ", "),
    self:paint("dim", ("(%s)"):format(duration(data.duration))))
  if data.interrupted then out[#out + 1] = self:paint("yellow", "interrupted: the results above are partial") end
  for _, p in ipairs(data.partial or {}) do out[#out + 1] = self:paint("yellow", "partial report: " .. p) end
  self.sink.write(table.concat(out, "\n") .. "\n")
end

return pretty
