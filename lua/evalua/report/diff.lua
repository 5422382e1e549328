--- report.diff: what changed between two JSON session reports (BASE, NEW). Tests are
-- matched by file and full name, runs by provider and position within their test,
-- cases by a key each provider keeps stable across runs (case_key). The result is plain
-- data that the pretty, JSON and HTML views render and whose `regressed` flag gives the
-- exit code: a test or case that passed and does not any more, a metric whose pass rate
-- fell or that fewer cases have a verdict for, a test or case that vanished (not run
-- is never as good as passed), or BASE's cases of which not one could be matched.
local stats = require "evalua.runner.stats"

local diff = {}

diff.FORMAT = "evalua-diff/1"

-- A tiny tolerance for comparing rates computed from counts.
local EPS = 1e-9

---------------------------------------------------------------------------
-- Checking the input: a report another tool wrote may be malformed

local function shape_error(name, path, what)
  error(("%s: %s: %s"):format(name, path, what), 0)
end

local function array_of_tables(name, path, v)
  if v == nil then return {} end
  if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then shape_error(name, path, "expected an array") end
  for i, x in ipairs(v) do
    if type(x) ~= "table" then shape_error(name, ("%s[%d]"):format(path, i), "expected an object") end
  end
  return v
end

-- Check the fields diff reads; errors name the file and the field (tests[2].runs[1].cases).
function diff.check(data, name)
  for i, t in ipairs(array_of_tables(name, "tests", data.tests)) do
    local p = ("tests[%d]"):format(i)
    if type(t.name) ~= "string" then shape_error(name, p .. ".name", "expected the test's name (a string)") end
    if type(t.outcome) ~= "string" then shape_error(name, p .. ".outcome", "expected an outcome (a string)") end
    for j, r in ipairs(array_of_tables(name, p .. ".runs", t.runs)) do
      local rp = ("%s.runs[%d]"):format(p, j)
      for k, c in ipairs(array_of_tables(name, rp .. ".cases", r.cases)) do
        local cp = ("%s.cases[%d]"):format(rp, k)
        if c.metrics ~= nil and type(c.metrics) ~= "table" then shape_error(name, cp .. ".metrics", "expected an array") end
      end
    end
  end
  for i, f in ipairs(array_of_tables(name, "files", data.files)) do
    array_of_tables(name, ("files[%d].runs"):format(i), f.runs)
  end
  return data
end

---------------------------------------------------------------------------
-- Keys

local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  if type(v) == "number" then return tostring(math.tointeger(v) or v) end
end

-- The stable key of a case for its provider, or nil and why there is none. Documented
-- per provider in docs/testing.md ("Comparing runs").
function diff.case_key(provider, case)
  local inputs = type(case.inputs) == "table" and case.inputs or {}
  if provider == "agentforce" then
    local n, u = str(case.number), str(inputs.utterance)
    if not n and not u then return nil, "no testNumber and no utterance" end
    return ("#%s %s"):format(n or "?", u or "")
  elseif provider == "futureagi" then
    local scenario = inputs.scenario_id or (type(inputs.scenario) == "table" and inputs.scenario.id)
    scenario = str(scenario) or str(type(inputs.scenario) == "table" and inputs.scenario.name or inputs.scenario)
    if not scenario then return nil, "no scenario" end
    local row = math.tointeger(inputs.row_index)
    return "scenario " .. scenario .. (row and (" row " .. row) or "")
  elseif provider == "kapso" then
    local id = str(case.id)
    if not id then return nil, "no test case id" end
    return "test case " .. id
  elseif provider == "glow" then
    local title, id = str(inputs.title), str(case.id)
    if not title and not id then return nil, "no title and no run id" end
    return title and ("title " .. title) or ("run " .. id)
  end
  local name = str(case.name)
  if not name then return nil, "no name" end
  return "name " .. name
end

-- Number repeated keys in order: the 2nd call of a scenario is its row 2.
local function occurrence(seen, key)
  seen[key] = (seen[key] or 0) + 1
  if seen[key] == 1 then return key end
  return ("%s (%d)"):format(key, seen[key])
end

-- Owners of runs (tests, and files for runs started in before_all) keyed by file and
-- name; each owner's runs keyed by provider and position; each run's cases by key.
local function index(data)
  local owners, order, seen = {}, {}, {}
  local function add(key, owner)
    key = occurrence(seen, key)
    owner.key = key
    owners[key] = owner
    order[#order + 1] = key
  end
  for _, f in ipairs(data.files or {}) do
    if #(f.runs or {}) > 0 then
      add(("%s: (runs of the file)"):format(f.path or "?"),
        { name = "(runs of the file)", file = f.path, runs = f.runs, file_level = true })
    end
  end
  for _, t in ipairs(data.tests or {}) do
    add(("%s: %s"):format(t.file or "?", t.full_name or t.name),
      { name = t.full_name or t.name, file = t.file, line = t.line, outcome = t.outcome, runs = t.runs or {},
        kind = t.kind })
  end
  for _, key in ipairs(order) do
    local owner = owners[key]
    local cases, case_order, unkeyed, per_provider, runs = {}, {}, {}, {}, {}
    for _, run in ipairs(owner.runs) do
      local provider = tostring(run.provider or "?")
      per_provider[provider] = (per_provider[provider] or 0) + 1
      local run_key = ("%s run %d"):format(provider, per_provider[provider])
      runs[#runs + 1] = { key = run_key, run = run }
      local seen_keys = {}
      for i, c in ipairs(run.cases or {}) do
        local k, why = diff.case_key(provider, c)
        local entry = { case = c, provider = provider, run = run_key, run_id = run.id, position = i }
        if k then
          k = run_key .. ": " .. occurrence(seen_keys, k)
          entry.key = k
          cases[k] = entry
          case_order[#case_order + 1] = k
        else
          entry.reason = why
          unkeyed[#unkeyed + 1] = entry
        end
      end
    end
    owner.cases, owner.case_order, owner.unkeyed, owner.run_list = cases, case_order, unkeyed, runs
  end
  return owners, order
end

---------------------------------------------------------------------------
-- Comparing

local function change_of(base, new)
  if base == true and new ~= true then return "regressed" end
  if base ~= true and new == true then return "fixed" end
  return "same"
end

local function metric_list(case)
  local out, by = {}, {}
  for _, m in ipairs(stats.metrics(case)) do
    if m.name ~= nil and not by[m.name] then
      by[m.name] = m
      out[#out + 1] = m.name
    end
  end
  return by, out
end

local function score(v)
  return type(v) == "number" and v or nil
end

local function compare_case(b, n)
  local bm, border = metric_list(b)
  local nm, norder = metric_list(n)
  local names, seen = {}, {}
  for _, list in ipairs({ border, norder }) do
    for _, name in ipairs(list) do
      if not seen[name] then
        seen[name] = true
        names[#names + 1] = name
      end
    end
  end
  local metrics = {}
  for _, name in ipairs(names) do
    local x, y = bm[name] or {}, nm[name] or {}
    local bs, ns = score(x.score), score(y.score)
    local m = { name = name, base_passed = x.passed, new_passed = y.passed, base_score = bs, new_score = ns,
                delta = bs and ns and ns - bs or nil, change = change_of(x.passed, y.passed),
                only = (bm[name] == nil and "new") or (nm[name] == nil and "base") or nil }
    metrics[#metrics + 1] = m
  end
  return metrics
end

-- Every run of a report: the files' (before_all) and the tests'.
local function all_runs(data)
  local runs = {}
  for _, f in ipairs(data.files or {}) do table.move(f.runs or {}, 1, #(f.runs or {}), #runs + 1, runs) end
  for _, t in ipairs(data.tests or {}) do table.move(t.runs or {}, 1, #(t.runs or {}), #runs + 1, runs) end
  return runs
end

-- Pass rates per metric over every run of a report.
local function rates(data)
  local by = {}
  for _, m in ipairs(stats.by_metric(all_runs(data))) do
    by[m.name] = { passed = m.passed, counted = m.counted, rate = m.rate, mean = m.mean }
  end
  return by
end

local function metric_rates(base, new)
  local b, n = rates(base), rates(new)
  local names = {}
  for name in pairs(b) do names[#names + 1] = name end
  for name in pairs(n) do if not b[name] then names[#names + 1] = name end end
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local x, y = b[name], n[name]
    local m = { name = name, base = x, new = y }
    if x and x.rate and (not y or not y.rate) then
      m.change = "regressed" -- no verdict for it any more
    elseif x and x.rate and y.rate then
      -- Fewer cases with a verdict is worse too: their verdicts were lost, not improved.
      m.delta, m.lost = y.rate - x.rate, math.max(0, x.counted - y.counted)
      m.change = (m.delta < -EPS or m.lost > 0) and "regressed" or m.delta > EPS and "fixed" or "same"
    elseif x and y and not y.rate then
      m.change = "same" -- a score-only metric (Kapso): no verdict on either side
    else
      m.change = "new"
    end
    out[#out + 1] = m
  end
  return out
end

---------------------------------------------------------------------------
-- Latency, tokens and cost: shown per run and over the report, never a regression by
-- themselves (a threshold of `evalua test` decides that).

-- The value at rank ceil(p * n) of the sorted list (nearest rank: a value that occurred).
local function nearest_rank(sorted, p)
  return sorted[math.max(1, math.ceil(p * #sorted - EPS))]
end

local function num(v)
  return type(v) == "number" and v == v and v or nil
end

-- {cases, latency_p50, latency_p95, tokens, cost} over the cases of `runs`, or nil when
-- no case reports any of them.
local function usage(runs)
  local lat, tokens, cost, any, n = {}, nil, nil, false, 0
  for _, run in ipairs(runs) do
    for _, c in ipairs(run.cases or {}) do
      n = n + 1
      local l = num(c.latency_ms)
      if l then lat[#lat + 1] = l end
      local t = num(c.total_tokens)
      if not t and (num(c.input_tokens) or num(c.output_tokens)) then
        t = (num(c.input_tokens) or 0) + (num(c.output_tokens) or 0)
      end
      if t then tokens = (tokens or 0) + t end
      if num(c.cost) then cost = (cost or 0) + c.cost end
      any = any or l ~= nil or t ~= nil or num(c.cost) ~= nil
    end
  end
  if not any then return nil end
  table.sort(lat)
  return { cases = n, latency_cases = #lat, latency_p50 = nearest_rank(lat, 0.5), latency_p95 = nearest_rank(lat, 0.95),
           tokens = tokens, cost = cost }
end

local USAGE_FIELDS = { "latency_p50", "latency_p95", "tokens", "cost" }

-- BASE and NEW usage side by side with the change of each field; nil when neither has any.
local function usage_change(b, n)
  if not b and not n then return nil end
  local out = { base = b, new = n }
  for _, f in ipairs(USAGE_FIELDS) do
    local x, y = b and b[f], n and n[f]
    if x and y then out[f .. "_delta"] = y - x end
  end
  return out
end

-- Matched pairs of runs (same test, same provider and position) of indexed reports:
-- {test, file, run = its key, base = run, new = run}.
local function pairs_of(bo, border, no)
  local list = {}
  for _, key in ipairs(border) do
    local b, n = bo[key], no[key]
    if n then
      local theirs = {}
      for _, r in ipairs(n.run_list) do theirs[r.key] = r.run end
      for _, r in ipairs(b.run_list) do
        if theirs[r.key] then
          list[#list + 1] = { test = b.name, file = b.file, run = r.key, base = r.run, new = theirs[r.key] }
        end
      end
    end
  end
  return list
end

--- diff.run_pairs(base, new) -> the runs of two reports the diff compares with each other.
function diff.run_pairs(base, new)
  local bo, border = index(base)
  return pairs_of(bo, border, (index(new)))
end

-- Usage of every matched pair of runs that reports any.
local function run_usage(run_pairs)
  local list = {}
  for _, p in ipairs(run_pairs) do
    local u = usage_change(usage({ p.base }), usage({ p.new }))
    if u then
      u.test, u.file, u.run, u.base_run, u.new_run = p.test, p.file, p.run, p.base.id, p.new.id
      list[#list + 1] = u
    end
  end
  return list
end

local function test_change(b, n)
  if b.file_level then return "same" end
  if b.outcome == n.outcome then return "same" end
  if b.outcome == "passed" then return "regressed" end
  if n.outcome == "passed" then return "fixed" end
  return "changed"
end

--- diff.compare(base, new, opts) -> the comparison. `opts.base_name`, `opts.new_name`
-- name the reports in it.
function diff.compare(base, new, opts)
  opts = opts or {}
  local bo, border = index(base)
  local no, norder = index(new)
  local out = { format = diff.FORMAT, tests = {}, cases = {}, metrics = metric_rates(base, new), unmatched = {},
                base = { name = opts.base_name, started_at = base.started_at, summary = base.summary },
                new = { name = opts.new_name, started_at = new.started_at, summary = new.summary } }
  local function unmatched(side, owner, entry)
    out.unmatched[#out.unmatched + 1] = { side = side, test = owner.name, file = owner.file, run = entry.run,
      run_id = entry.run_id, position = entry.position, case = entry.case.name, reason = entry.reason }
  end
  local function case_entry(owner, key, change, b, n)
    local c = (n or b).case
    local e = { test = owner.name, file = owner.file, key = key, provider = (n or b).provider, name = c.name,
                change = change, base_run = b and b.run_id, new_run = n and n.run_id,
                base_verdict = b and stats.case_verdict(b.case), new_verdict = n and stats.case_verdict(n.case),
                base_error = b and str(b.case.error), new_error = n and str(n.case.error) }
    out.cases[#out.cases + 1] = e
    return e
  end
  for _, key in ipairs(border) do
    local b, n = bo[key], no[key]
    if not n then
      if not b.file_level then
        out.tests[#out.tests + 1] = { key = key, name = b.name, file = b.file, base = b.outcome, change = "vanished" }
      end
      for _, ck in ipairs(b.case_order) do case_entry(b, ck, "vanished", b.cases[ck], nil) end
    else
      if not b.file_level then
        out.tests[#out.tests + 1] = { key = key, name = b.name, file = b.file, line = n.line, base = b.outcome,
                                      new = n.outcome, change = test_change(b, n) }
      end
      for _, ck in ipairs(b.case_order) do
        local bc, nc = b.cases[ck], n.cases[ck]
        if nc then
          local e = case_entry(n, ck, "same", bc, nc)
          e.metrics = compare_case(bc.case, nc.case)
          e.change = change_of(e.base_verdict, e.new_verdict)
          for _, m in ipairs(e.metrics) do
            if m.change == "regressed" then e.change = "regressed" end
            if m.change == "fixed" and e.change == "same" then e.change = "fixed" end
          end
        else
          case_entry(b, ck, "vanished", bc, nil)
        end
      end
      for _, ck in ipairs(n.case_order) do
        if not b.cases[ck] then case_entry(n, ck, "new", nil, n.cases[ck]) end
      end
    end
    for _, entry in ipairs(b.unkeyed) do unmatched("base", b, entry) end
    if n then for _, entry in ipairs(n.unkeyed) do unmatched("new", n, entry) end end
  end
  for _, key in ipairs(norder) do
    local n = no[key]
    if not bo[key] then
      if not n.file_level then
        out.tests[#out.tests + 1] = { key = key, name = n.name, file = n.file, line = n.line, new = n.outcome,
                                      change = "new" }
      end
      for _, ck in ipairs(n.case_order) do case_entry(n, ck, "new", nil, n.cases[ck]) end
      for _, entry in ipairs(n.unkeyed) do unmatched("new", n, entry) end
    end
  end
  local overall = usage_change(usage(all_runs(base)), usage(all_runs(new)))
  if overall then out.usage = { overall = overall, runs = run_usage(pairs_of(bo, border, no)) } end
  local s = { tests_regressed = 0, tests_fixed = 0, tests_new = 0, tests_vanished = 0, cases_regressed = 0,
              cases_fixed = 0, cases_new = 0, cases_vanished = 0, cases_compared = 0, metrics_regressed = 0,
              unmatched = #out.unmatched, score_changes = 0 }
  for _, t in ipairs(out.tests) do
    local k = "tests_" .. t.change
    if s[k] then s[k] = s[k] + 1 end
  end
  for _, c in ipairs(out.cases) do
    local k = "cases_" .. c.change
    if s[k] then s[k] = s[k] + 1 end
    if c.metrics then
      s.cases_compared = s.cases_compared + 1
      for _, m in ipairs(c.metrics) do
        if m.delta and math.abs(m.delta) > EPS then s.score_changes = s.score_changes + 1 end
      end
    end
  end
  for _, m in ipairs(out.metrics) do
    if m.change == "regressed" then s.metrics_regressed = s.metrics_regressed + 1 end
  end
  s.regressions = s.tests_regressed + s.tests_vanished + s.cases_regressed + s.cases_vanished + s.metrics_regressed
  out.summary = s
  -- BASE had cases and not one could be compared with NEW: nothing shows NEW is as good.
  local base_cases = 0
  for _, run in ipairs(all_runs(base)) do base_cases = base_cases + #(run.cases or {}) end
  s.nothing_matched = base_cases > 0 and s.cases_compared == 0 or nil
  out.regressed = s.regressions > 0 or s.nothing_matched == true
  return out
end

---------------------------------------------------------------------------
-- Words shared by the views

function diff.percent(r)
  return r and ("%.1f%%"):format(r * 100) or "–"
end

function diff.verdict(v)
  return v == true and "PASS" or v == false and "FAIL" or "no verdict"
end

-- "93.0% (93/100)"
function diff.rate_text(r)
  if not r or not r.rate then return "no verdict" end
  return ("%s (%d/%d)"):format(diff.percent(r.rate), r.passed, r.counted)
end

function diff.number(v)
  if v == nil then return "–" end
  return ("%.4g"):format(v)
end

function diff.signed(v, points)
  if v == nil then return "" end
  if points then return ("%+.1f pts"):format(v * 100) end
  return ("%+.4g"):format(v)
end

local USAGE_WORDS = { { "latency_p50", "latency p50", " ms" }, { "latency_p95", "p95", " ms" },
                      { "tokens", "tokens", "" }, { "cost", "cost", "" } }

-- "latency p50 1200 ms -> 1500 ms (+300 ms), p95 ...; tokens 900 -> 950 (+50); cost 0.12 -> 0.15 (+0.03)":
-- the fields either side reports.
function diff.usage_words(u)
  local parts = {}
  for _, w in ipairs(USAGE_WORDS) do
    local f, label, unit = w[1], w[2], w[3]
    local x, y = u.base and u.base[f], u.new and u.new[f]
    if x or y then
      local d = u[f .. "_delta"]
      parts[#parts + 1] = ("%s %s -> %s%s"):format(label, x and (diff.number(x) .. unit) or "–",
        y and (diff.number(y) .. unit) or "–", d and (" (" .. diff.signed(d) .. unit .. ")") or "")
    end
  end
  return table.concat(parts, ", ")
end

-- Regressions first, then fixes, then the rest: the order every view shows.
diff.ORDER = { regressed = 1, vanished = 2, fixed = 3, changed = 4, new = 5, same = 6 }

function diff.sorted(list)
  local out = table.move(list, 1, #list, 1, {})
  for i, x in ipairs(out) do x._i = i end
  table.sort(out, function(a, b)
    local ra, rb = diff.ORDER[a.change] or 9, diff.ORDER[b.change] or 9
    if ra ~= rb then return ra < rb end
    return a._i < b._i
  end)
  for _, x in ipairs(out) do x._i = nil end
  return out
end

return diff
