-- TAP version 13 (what `prove` reads): one line per test as it ends, a YAML block with
-- expected/actual for what did not pass (and the attempts of a retried test), the
-- test's own output as comments, and the plan at the end. A flaky test is `ok` with a
-- `# flaky` comment; a repeat judged by its test's pass rate is a TODO when it failed.
local costs = require "evalua.report.costs"
local markup = require "evalua.report.markup"
local report = require "evalua.report"

local tap = {}

local Tap = {}
Tap.__index = Tap

function tap.new(sink)
  return setmetatable({ name = "tap", sink = sink, n = 0 }, Tap)
end

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- A YAML double-quoted scalar (escapes TAP::Parser's YAMLish reader understands).
local function q(v)
  return '"' .. tostring(v):gsub('[%c"\\]', function(c) return ESC[c] or ("\\x%02X"):format(c:byte()) end) .. '"'
end

-- Test names go on one line (other control characters escaped), and '#' would start
-- a directive.
local function title(s)
  return markup.line((tostring(s):gsub("[\r\n]+", " "):gsub("\\", "\\\\"):gsub("#", "\\#")))
end

function Tap:start()
  self.sink.write("TAP version 13\n")
end

local function yaml_failure(out, f)
  out[#out + 1] = "    - message: " .. q(f.message)
  if f.file then out[#out + 1] = "      at: " .. q(("%s:%s"):format(f.file, f.line or "?")) end
  for _, k in ipairs({ "expected", "actual", "diff" }) do
    if f[k] ~= nil then out[#out + 1] = ("      %s: %s"):format(k, q(f[k])) end
  end
end

local function yaml_block(e)
  local out = { "  ---", "  outcome: " .. e.outcome }
  if e.line then out[#out + 1] = "  at: " .. q(("%s:%s"):format(e.file, e.line)) end
  if e.error then
    out[#out + 1] = "  message: " .. q(e.error.message)
    if e.error.kind then out[#out + 1] = "  kind: " .. q(e.error.kind) end
  end
  if #(e.failures or {}) > 0 then
    out[#out + 1] = "  failures:"
    for _, f in ipairs(e.failures) do yaml_failure(out, f) end
  end
  if e.actual and e.kind == "pass_rate" then out[#out + 1] = "  pass_rate: " .. q(e.actual) end
  if #(e.attempts or {}) > 0 then
    out[#out + 1] = "  attempts:"
    for _, a in ipairs(e.attempts) do
      out[#out + 1] = ("    - attempt: %d"):format(a.attempt)
      out[#out + 1] = "      outcome: " .. a.outcome
      local why = a.error and a.error.message or (a.failures and a.failures[1] and a.failures[1].message)
      if why then out[#out + 1] = "      message: " .. q(why) end
    end
  end
  if e.duration then out[#out + 1] = ("  duration_ms: %d"):format(math.floor(e.duration * 1000 + 0.5)) end
  out[#out + 1] = "  ..."
  return table.concat(out, "\n") .. "\n"
end

local function comments(text)
  return "# " .. markup.text(text):gsub("\n", "\n# ") .. "\n"
end

local OK = { passed = true, skipped = true, flaky = true }

function Tap:test_end(e)
  self.n = self.n + 1
  local name = title(e.file .. " > " .. (e.full_name or e.name))
  local ok = OK[e.outcome]
  local line = ("%s %d - %s"):format(ok and "ok" or "not ok", self.n, name)
  if e.outcome == "skipped" then line = line .. " # SKIP " .. title(e.skip_reason or "") end
  if e.outcome == "flaky" then
    line = line .. (" # flaky: passed on attempt %d of %d"):format(#e.attempts, (e.retries or 0) + 1)
  end
  if e.rate_of and not ok then line = line .. " # TODO a repeat: its test's pass rate decides" end
  local parts = { line, "\n" }
  if not ok or e.outcome == "flaky" then parts[#parts + 1] = yaml_block(e) end
  parts[#parts + 1] = costs.tap(e, report.runs)
  if e.output then parts[#parts + 1] = comments(e.output) end
  self.sink.write(table.concat(parts))
end

function Tap:finish(data)
  local s = data.summary
  self.sink.write(("1..%d\n"):format(self.n))
  for _, p in ipairs(data.partial or {}) do self.sink.write("# partial report: " .. title(p) .. "\n") end
  self.sink.write(("# %d passed, %d flaky, %d failed, %d no verdict, %d error, %d infra, %d skipped%s\n"):format(
    s.passed, s.flaky or 0, s.failed, s.no_verdict or 0, s.error, s.infra, s.skipped,
    data.interrupted and " (interrupted)" or ""))
end

return tap
