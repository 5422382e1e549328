-- Glow's current API (`glow.connect{api = "test"}`): the benchmark-test operations mounted
-- at `POST {base_url}/test/<op>` (glow-academic/api core/app/routes/test/). It has no `next`
-- (that is a socket event, infra/test/workflows.py), so the test's `get` names the pending
-- runs, and a replay follows the order the backend describes (infra/test/trace.py, run.py):
-- `trace` opens a trace on the run, `generate` replays it, `run/` binds the replay to the
-- invocation. Grading is `grade` {invocation_id, run_id,
-- score, idempotency_key}: whole rubric points, `passed` decided by the service's rubric.
local common = require "evalua.providers.common"
local errors = require "evalua.errors"

local testapi = {}

testapi.prefix = "/test/"
-- routes/test/run/create.py mounts `run` at "/" under "/run": its path ends in a slash.
testapi.paths = { run = "run/" }

-- A random (version 4) UUID: Glow's idempotency keys are UUIDs (routes/test/grade.py).
function testapi.uuid()
  local b = {}
  for i = 1, 16 do b[i] = math.random(0, 255) end
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  return ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x"):format(table.unpack(b))
end

-- Sends that create something carry a fresh idempotency key, so a retry after a timeout
-- replays the first answer instead of doing it twice (infra/events/audit.py).
local KEYED = { idempotent = true }

-- What is wrong with a verdict for this API, or nil: `grade` takes whole rubric points and
-- decides `passed` itself; Glow's AI grader is not reachable through it.
function testapi.verdict_problem(v)
  if v.grade then
    return "api \"test\" has no grade = true (Glow's grader agent is not an operation): give a score"
  end
  if v.score == nil then
    return "api \"test\" needs a score (whole rubric points); the service decides passed from its rubric"
  end
  if math.tointeger(v.score) == nil then
    return ("api \"test\" grades in whole rubric points: score must be an integer, got %.15g"):format(v.score)
  end
end

-- The first run item of `doc` not started yet and not handed out by this client before.
local function pending_item(doc, taken)
  local runs = type(doc.runs) == "table" and doc.runs or {}
  for i, item in ipairs(runs) do
    if type(item) == "table" and item.status == "not_started" and item.run_id and not taken[item.run_id] then
      return item, i, #runs
    end
  end
end

-- Start the replay of the test's next pending run: get, trace, generate, run/. Returns the
-- fields of the new Run. Raises an error with `no_pending` when the test has none left.
-- A run is this client's from its trace on (a `get` may not show it started yet); when
-- the start fails before `generate` went out, nothing was replayed and the run is free again.
function testapi.start_replay(self, test_id)
  self.taken = self.taken or {}
  local taken = self.taken[test_id] or {}
  self.taken[test_id] = taken
  local item, index, total
  local ok, trace = pcall(function()
    item, index, total = pending_item(self:get(test_id), taken)
    if not item then
      errors.raise({ kind = "config", no_pending = true, vendor_message = "No pending test run found",
        message = ("glow: test %s has no pending run (no run item is not_started)"):format(test_id) })
    end
    taken[item.run_id] = true
    return self:post("trace", { test_id = test_id, test_invocation_id = item.invocation_id,
      run_id = item.run_id, idempotency_key = testapi.uuid() }, KEYED, { expect = { "test_invocation_trace_id" } })
  end)
  if not ok then
    if item then taken[item.run_id] = nil end
    if errors.is(trace) then trace.start_not_sent = true end -- nothing was replayed
    error(trace, 0)
  end
  local trace_id = trace.test_invocation_trace_id
  local gen = self:post("generate", { trace_id = trace_id, idempotency_key = testapi.uuid() }, KEYED)
  local run_id = type(gen) == "table" and type(gen.run_id) == "string" and gen.run_id or item.run_id
  local bound_ok, bound = pcall(self.post, self, "run", { test_id = test_id,
    test_invocation_id = item.invocation_id, run_id = run_id, test_invocation_trace_id = trace_id,
    idempotency_key = testapi.uuid() }, KEYED, { expect = { "test_invocation_run_id" } })
  if not bound_ok then -- a replay nobody will wait for: stop it before raising
    pcall(self.stop, self, item.invocation_id)
    error(bound, 0)
  end
  return {
    id = item.run_id, invocation_id = item.invocation_id, trace_id = trace_id,
    binding_id = bound.test_invocation_run_id, current_run = index, total_runs = total,
    raw = { item = item, trace = trace, generate = gen, run = bound },
  }
end

-- Send a grade: {invocation_id, run_id, score, idempotency_key}. The key is kept per
-- (invocation, run, score), so the same grade sent again (a retry by the http layer after
-- a timeout or a lost answer, a 409 while the first is still being written, or the script
-- calling grade again) replays the first answer and never grades twice. Returns the answer.
function testapi.grade(self, invocation_id, run_id, verdict)
  local score = math.tointeger(verdict.score)
  local fp = ("%s\0%s\0%d"):format(tostring(invocation_id), tostring(run_id), score)
  self.grade_keys = self.grade_keys or {}
  local key = self.grade_keys[fp] or testapi.uuid()
  self.grade_keys[fp] = key
  local res = self:post("grade", { invocation_id = invocation_id, run_id = run_id, score = score,
    idempotency_key = key }, { idempotent = true, statuses = { 409, 429, 502, 503, 504 } },
    { expect = { "grade_id" } })
  if res.success == false then
    errors.raise({ kind = "protocol", message = ("glow: the grade of run %s was not recorded (success: false)")
      :format(tostring(run_id)) })
  end
  if verdict.passed ~= nil and res.passed ~= verdict.passed then
    common.warn("glow: run %s: the grader said passed = %s, Glow's rubric says %s for score %s; Glow's counts",
      tostring(run_id), tostring(verdict.passed), tostring(res.passed), tostring(res.score))
  end
  return res
end

return testapi
