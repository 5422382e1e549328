-- Glow documents of the current API (tests/fixtures/glow/SOURCES.txt: written from the types
-- of API v1.0.50) into the common model: every field of each fixture stays reachable from
-- the Run (its raw document, each case's raw run item), and the mapped fields are right.
local tap = require "tap"
local cjson = require "cjson"
local model = require "evalua.model"

local load = require "glow_fixtures"

-- Leaf fields of a document (JSON nulls included), counted once per table reached.
local function leaves(v, seen)
  if type(v) ~= "table" or v == cjson.null then return 1 end
  seen = seen or {}
  if seen[v] then return 0 end
  seen[v] = true
  local n = 0
  for _, x in pairs(v) do n = n + leaves(x, seen) end
  return n
end

local doc = load("test_get.json")
local total = leaves(doc)
local run = model.from.glow(doc)
local seen = {}
local kept = leaves(run.raw, seen)
for _, c in ipairs(run.cases) do kept = kept + leaves(c.raw, seen) end
tap.is(kept, total, ("test_get.json: all %d fields kept (raw document and run items)"):format(total))
tap.ok(run.raw == doc and #run.cases == #doc.runs, "one case per run item, the document as raw")
for i, item in ipairs(doc.runs) do
  tap.ok(run.cases[i].raw == item, ("run item %d is its case's raw"):format(i))
end
tap.is(run.status, "running", "status_summary 1 of 2 completed: running")
tap.ok(run.cases_done == 1 and run.cases_total == 2, "cases done / total from status_summary")
local c1, c2 = run.cases[1], run.cases[2]
tap.is(c1.name, "How do I reset my password?", "case named by its invocation's title")
tap.ok(c1:metric("grade").score == 8 and c1:metric("grade").passed == true, "rubric points grade: score 8, passed")
tap.ok(c1.status == "completed" and c2.status == "queued", "completed / not_started -> queued")
tap.is(c1.outputs.chat_id, c1.invocation_id, "chat_id is the invocation id")
tap.is(#c2.metrics, 0, "ungraded run: no metric")
local one = model.from.glow(doc, { run_id = doc.runs[1].run_id })
tap.is(require("evalua.providers.glow.mapper").replays(doc, doc.runs[1].run_id), 1,
  "entries.runs binding rows (with test_invocation_traces_id) count the replays")
tap.ok(one.status == "completed" and one.cases[1].raw == doc.runs[1], "one replay's view")

-- test_start.json and test_grade.json are answers the client returns as they are: the
-- sandbox's answers are checked against their fields in glow_testapi_test.lua.

tap.done()
