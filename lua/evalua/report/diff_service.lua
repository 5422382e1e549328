--- The services' own comparisons beside evalua's in `evalua report diff`: Future AGI
-- compares executions of one run test itself (`eval-summary-comparison`). For every
-- matched pair of Future AGI runs that are two executions of the same run test, the
-- service's summary of each eval (pass rate, average score, choices) is fetched and put
-- beside evalua's own pass rate of that metric over the same two runs. Shown, not
-- judged: evalua's comparison decides the exit code.
local diff = require "evalua.report.diff"
local stats = require "evalua.runner.stats"

local diff_service = {}

-- The pairs the service can compare: Future AGI executions of one run test.
function diff_service.candidates(base, new)
  local list = {}
  for _, p in ipairs(diff.run_pairs(base, new)) do
    local b, n = p.base, p.new
    if b.provider == "futureagi" and n.provider == "futureagi" and b.run_test_id and b.run_test_id == n.run_test_id
      and b.id and n.id and b.id ~= n.id then
      list[#list + 1] = p
    end
  end
  return list
end

-- One eval's value in a summary entry: the pass rate (0..1) of a Pass/Fail eval, the
-- average score (0..1; the service scales scores by 100) of a score eval, else the
-- choices as text.
local function value_of(entry)
  if type(entry.total_pass_rate) == "number" then return entry.total_pass_rate / 100, "pass rate" end
  if type(entry.total_avg) == "number" then return entry.total_avg / 100, "average score" end
  if type(entry.total_choices_avg) == "table" then
    local parts = {}
    for k, v in pairs(entry.total_choices_avg) do parts[#parts + 1] = ("%s %s%%"):format(tostring(k), tostring(v)) end
    table.sort(parts)
    return table.concat(parts, ", "), "choices"
  end
  return nil, "no value"
end

local function by_name(list)
  local out, order = {}, {}
  for _, e in ipairs(type(list) == "table" and list or {}) do
    if type(e) == "table" and e.name ~= nil then
      local name = tostring(e.name)
      if not out[name] then order[#order + 1] = name end
      out[name] = e
    end
  end
  return out, order
end

-- evalua's pass rate of `name` over one run, as {rate, passed, counted} (or nil).
local function ours(run, name)
  local rate, passed, counted = stats.pass_rate(run, name)
  return rate and { rate = rate, passed = passed, counted = counted } or nil
end

--- diff_service.compare(pairs, client) -> the service's comparisons: per pair {provider,
-- test, file, run, run_test_id, base_run, new_run, evals = [{name, kind, base, new,
-- delta, ours = {base, new}}]}. `client` is a Future AGI client (its compare call).
function diff_service.compare(candidates, client)
  local out = {}
  for _, p in ipairs(candidates) do
    local result = client:compare(p.base.run_test_id, { p.base.id, p.new.id }) or {}
    local b, border = by_name(result[p.base.id])
    local n, norder = by_name(result[p.new.id])
    local evals, seen = {}, {}
    for _, list in ipairs({ border, norder }) do
      for _, name in ipairs(list) do
        if not seen[name] then
          seen[name] = true
          local bv, kind = value_of(b[name] or {})
          local nv, nkind = value_of(n[name] or {})
          kind = b[name] and kind or nkind
          evals[#evals + 1] = { name = name, kind = kind, base = bv, new = nv,
                                delta = type(bv) == "number" and type(nv) == "number" and nv - bv or nil,
                                ours = { base = ours(p.base, name), new = ours(p.new, name) } }
        end
      end
    end
    out[#out + 1] = { provider = "futureagi", test = p.test, file = p.file, run = p.run,
                      run_test_id = p.base.run_test_id, base_run = p.base.id, new_run = p.new.id, evals = evals }
  end
  return out
end

local function shown(v, kind)
  if v == nil then return "–" end
  if type(v) == "string" then return v end
  return kind == "pass rate" and diff.percent(v) or diff.number(v)
end

--- diff_service.words(e) -> "resolved pass rate 100.0% -> 50.0% (-50.0 pts); evalua 100.0% (2/2) -> 50.0% (1/2)"
function diff_service.words(e)
  local text = ("%s %s %s -> %s"):format(e.name, e.kind, shown(e.base, e.kind), shown(e.new, e.kind))
  if e.delta then text = text .. " (" .. diff.signed(e.delta, e.kind == "pass rate") .. ")" end
  if e.ours.base or e.ours.new then
    text = text .. ("; evalua %s -> %s"):format(diff.rate_text(e.ours.base), diff.rate_text(e.ours.new))
  end
  return text
end

return diff_service
