-- `--repeat N --pass-rate R` (or a test's `repeats`/`pass_rate`): one entry judges the
-- N repeats of a test, which passes when at least R of them passed (pass@k as a rate).
-- Judged from report data alone, like thresholds, so that a merge of shards that split
-- the repeats judges them exactly like an unsharded run.
local repeats = {}

-- A rate option: a number from 0 to 1, or a percentage ("80%"); nil and a message.
function repeats.parse_rate(v)
  local n = tonumber(v)
  if not n and type(v) == "string" and v:match("%%$") then
    n = tonumber(v:sub(1, -2))
    n = n and n / 100
  end
  if not n or n <= 0 or n > 1 then return nil, ("a pass rate is a number above 0 and at most 1, or a "
    .. "percentage, got '%s'"):format(tostring(v)) end
  return n
end

local function percent(r) return ("%.4g%%"):format(r * 100) end

-- Repeats needed to pass out of n at rate r (floating point: 0.8 * 5 is 4, not 4.0000001).
local function needed(r, n)
  return math.ceil(r * n - 1e-9)
end

-- The repeat entries of pass-rate entry `e` in session `data`.
local function members(e, data)
  local list = {}
  for _, t in ipairs(data.tests or {}) do
    if t.rate_of == e.id then list[#list + 1] = t end
  end
  return list
end

-- Judge pass-rate entry `e`: outcome, failures or error, and what the repeats did.
function repeats.evaluate(e, data)
  local list = members(e, data)
  e.failures, e.error, e.skip_reason = {}, nil, nil
  if #list < e.repeats then
    e.outcome = "skipped"
    e.skip_reason = ("only %d of its %d repeats are in this report; judged when shard reports are merged")
      :format(#list, e.repeats)
    return e
  end
  local by = { passed = 0, failed = 0, error = 0, infra = 0, skipped = 0 }
  local first = {}
  for _, t in ipairs(list) do
    local o = (t.outcome == "flaky" or t.outcome == "passed") and "passed" or t.outcome
    by[o] = (by[o] or 0) + 1
    first[o] = first[o] or t
  end
  e.passed_repeats = by.passed
  local rate = by.passed / e.repeats
  local parts = {}
  for _, o in ipairs({ "failed", "error", "infra", "skipped" }) do
    if by[o] > 0 then parts[#parts + 1] = ("%d %s"):format(by[o], o) end
  end
  e.actual = ("%s (%d of %d repeats passed%s)"):format(percent(rate), by.passed, e.repeats,
    #parts > 0 and ("; " .. table.concat(parts, ", ")) or "")
  if by.passed >= needed(e.pass_rate, e.repeats) then
    e.outcome = "passed"
    return e
  end
  local message = ("pass rate %s not met: %s"):format(percent(e.pass_rate), e.actual)
  -- The build says why as the worst repeat would: a bug in the test, then the outside world.
  local worst = by.error > 0 and "error" or by.infra > 0 and "infra" or "failed"
  e.outcome = worst
  if worst == "failed" or not first[worst] then
    e.outcome = "failed"
    e.failures[1] = { message = message, expected = ">= " .. percent(e.pass_rate), actual = e.actual,
                      file = e.file, line = e.line }
  else
    local err = first[worst].error or {}
    e.error = { message = message .. ": " .. tostring(err.message), kind = err.kind }
  end
  return e
end

return repeats
