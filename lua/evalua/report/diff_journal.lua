--- The `--journal` sides of `evalua report diff`: BASE and NEW named as runs the journal
-- recorded (`provider:id`, or `last`, `last~N` counting back from the newest). The
-- journal keeps only what finds a run again, not its results: each run is re-attached
-- with the user's configuration (reattach), waited for and its results fetched from the
-- service, then shaped as a one-test session report so that the diff compares it like a
-- JSON report. Both sides are the same test ("run from the journal"), so their cases
-- are matched.
local journal = require "evalua.journal"
local json = require "evalua.json"
local reattach = require "evalua.reattach"
local session = require "evalua.runner.session"
local stats = require "evalua.runner.stats"

local diff_journal = {}

diff_journal.TEST = "(run from the journal)"

-- The journal entry `ref` names, or raises a message naming the journal.
function diff_journal.find(path, ref)
  local list = journal.read(path)
  local runs = {}
  for _, e in ipairs(list) do
    if not e.pending_start and type(e.run) == "table" then runs[#runs + 1] = e end
  end
  local back = ref == "last" and 0 or tonumber(ref:match("^last~(%d+)$"))
  if back then
    local e = runs[#runs - back]
    if not e then
      error(("journal %s has %d run%s: no %s"):format(path, #runs, #runs == 1 and "" or "s", ref), 0)
    end
    return e
  end
  for i = #runs, 1, -1 do
    if runs[i].key == ref then return runs[i] end
  end
  error(("no run %s in journal %s (give provider:id as `evalua resume --list` or the journal shows it, "
    .. "or last, last~N)"):format(ref, path), 0)
end

-- A run's outcome as a test that waited for it would have it: passed when it completed
-- and every case passed; failed when it did not complete or a case failed; else no verdict.
local function outcome(run)
  if run.status ~= "completed" then return "failed" end
  local verdict = #(run.cases or {}) > 0 or nil
  for _, case in ipairs(run.cases or {}) do
    local v = stats.case_verdict(case)
    if v == false then return "failed" end
    if v == nil then verdict = nil end
  end
  return verdict and "passed" or "no_verdict"
end

--- diff_journal.load(e, path, opts) -> a session report holding the run of journal entry
-- `e` (diff_journal.find), and its name ("agentforce:4KB… (test 'x', started 2026-…)").
-- opts: timeout (seconds), allow_origin (set), pass_score. Raises the provider's
-- structured errors (infra, config, ...).
function diff_journal.load(e, path, opts)
  local run = session.plain(reattach.fetch(e.run, opts))
  local test = { kind = "test", id = "journal", name = diff_journal.TEST, full_name = diff_journal.TEST,
                 file = path, outcome = outcome(run), runs = json.array({ run }) }
  local name = ("%s (%sstarted %s)"):format(e.key, e.test and ("test '" .. e.test .. "', ") or "", e.time or "?")
  return { format = session.FORMAT, started_at = e.time, files = json.array(), tests = json.array({ test }) }, name
end

return diff_journal
