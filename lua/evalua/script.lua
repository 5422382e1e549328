--- script: what the bundled orchestration scripts share, for yours too: command-line
-- flags and a readable run summary with a CI verdict (exit code).
local errors = require "evalua.errors"
local duration = require "evalua.duration"
local script = {}

local function usage_text(name, spec, about)
  local lines = { ("usage: evalua run %s [flags]"):format(name), "", about, "", "flags:" }
  for _, f in ipairs(spec) do
    local left = "--" .. f[1] .. (f.flag and "" or " " .. (f.meta or "VALUE"))
    local right = f.help or ""
    if f.default ~= nil then right = right .. (" (default %s)"):format(tostring(f.default)) end
    if f.required then right = right .. " (required)" end
    lines[#lines + 1] = ("  %-28s %s"):format(left, right)
  end
  lines[#lines + 1] = ("  %-28s %s"):format("--help", "this text")
  return table.concat(lines, "\n") .. "\n"
end

--- script.flags(args, spec, about) -> table of values by flag name (dashes become _).
-- spec: { {"definition", required = true, help = "..."}, {"wait", default = "10m",
-- duration = true}, {"min-pass-rate", number = true}, {"verbose", flag = true} }.
-- A usage error raises a `usage` error (exit 2); --help prints usage and exits 0.
function script.flags(args, spec, about)
  local name = (args and args[0] or "script.lua"):match("[^/]*$")
  local by = {}
  for _, f in ipairs(spec) do by[f[1]] = f end
  local out, i = {}, 1
  local function fail(msg)
    errors.raise({ kind = "usage", message = msg .. "\n" .. usage_text(name, spec, about) }, 3)
  end
  while args[i] do
    local a = args[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(usage_text(name, spec, about))
      os.exit(0)
    end
    local key, value = a:match("^%-%-([%w-]+)=(.*)$")
    key = key or a:match("^%-%-([%w-]+)$")
    local f = key and by[key]
    if not f then fail(key and ("unknown flag --" .. key) or ("unexpected argument '" .. a .. "'")) end
    if f.flag then
      value = true
    elseif value == nil then
      i = i + 1
      value = args[i]
      if value == nil then fail("--" .. key .. " needs a value") end
    end
    if f.number then
      local n = tonumber(value)
      if not n then fail(("--%s needs a number, got '%s'"):format(key, value)) end
      value = n
    elseif f.duration then
      local secs = duration.parse(value)
      if not secs then fail(("--%s needs a duration like 30s or 10m, got '%s'"):format(key, value)) end
      value = secs
    end
    out[key:gsub("-", "_")] = value
    i = i + 1
  end
  for _, f in ipairs(spec) do
    local k = f[1]:gsub("-", "_")
    if out[k] == nil then
      if f.required then fail("--" .. f[1] .. " is required") end
      out[k] = f.duration and f.default and duration.seconds(f.default) or f.default
    end
  end
  return out
end

local function pct(x)
  return x and ("%.0f%%"):format(x * 100) or "-"
end

local function mean(list)
  if #list == 0 then return nil end
  local sum = 0
  for _, v in ipairs(list) do sum = sum + v end
  return sum / #list
end

local function short(s, n)
  s = tostring(s or ""):gsub("%s+", " ")
  if #s > n then s = s:sub(1, n - 1) .. "…" end
  return s
end

--- script.report(run, {min_pass_rate = 0.8, out = io.stdout}) -> exit code
-- Prints the run, a table of metrics (pass rate, mean score) and every failing case
-- with what was expected and what came back. The code is 0 when the run completed and
-- no case failed (and the pass rate is at least min_pass_rate when given), else 1.
function script.report(run, opts)
  opts = opts or {}
  local out = opts.out or io.stdout
  local function say(fmt, ...) out:write(fmt:format(...), "\n") end
  say("%s", tostring(run))
  local names = run:metric_names()
  if #names > 0 then
    say("  %-34s %9s %8s %12s", "metric", "passed", "rate", "mean score")
    for _, name in ipairs(names) do
      local rate, passed, judged = run:pass_rate(name)
      local m = mean(run:scores(name))
      say("  %-34s %9s %8s %12s", short(name, 34), judged > 0 and (passed .. "/" .. judged) or "-", pct(rate),
        m and ("%.3g"):format(m) or "-")
    end
  end
  local failed = run:failed_cases()
  if #failed > 0 then
    say("failing cases:")
    for _, c in ipairs(failed) do
      local utterance = c.inputs and (c.inputs.utterance or c.inputs.message)
      say("  %s%s", tostring(c.name), utterance and (' "' .. short(utterance, 60) .. '"') or "")
      if c.error then say("    error: %s", short(c.error, 200)) end
      for _, m in ipairs(c:failed_metrics()) do
        local parts = {}
        if m.expected ~= nil then parts[#parts + 1] = "expected " .. short(m.expected, 60) end
        if m.actual ~= nil then parts[#parts + 1] = "got " .. short(m.actual, 60) end
        if m.score ~= nil then parts[#parts + 1] = "score " .. tostring(m.score) end
        if m.reason ~= nil then parts[#parts + 1] = short(m.reason, 120) end
        say("    %s: %s", m.name, #parts > 0 and table.concat(parts, "; ") or "failed")
      end
    end
  end
  local rate = run:pass_rate()
  local code = 0
  if run.status ~= "completed" then
    say("verdict: FAIL (run %s)", run.status)
    code = 1
  elseif #failed > 0 and not opts.min_pass_rate then
    say("verdict: FAIL (%d of %d cases failed)", #failed, #run.cases)
    code = 1
  elseif opts.min_pass_rate and (rate == nil or rate < opts.min_pass_rate) then
    say("verdict: FAIL (pass rate %s below %s)", pct(rate), pct(opts.min_pass_rate))
    code = 1
  else
    say("verdict: PASS (pass rate %s)", pct(rate))
  end
  return code
end

return script
