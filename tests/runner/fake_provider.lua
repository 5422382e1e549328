-- A provider double for the runner's fixtures: runs that finish after a (virtual)
-- delay with hand-built cases, announced through evalua.hooks like real providers.
local hooks = require "evalua.hooks"
local task = require "evalua.task"

local fake = {}

local Run = {}
Run.__index = Run

local next_id = 0

-- fake.start{cases = {...}, after = seconds, status = "completed"} -> run
function fake.start(spec)
  next_id = next_id + 1
  local run = setmetatable({ provider = "fake", id = spec.id or ("F" .. next_id), status = "running",
                             cases = {}, spec = spec }, Run)
  hooks.emit("run_started", run)
  return run
end

function Run:wait()
  task.sleep(self.spec.after or 1)
  self.status = self.spec.status or "completed"
  self.cases = self.spec.cases or {}
  hooks.emit("run_status", self)
  hooks.emit("run_finished", self)
  return self
end

function Run:descriptor()
  return { provider = "fake", id = self.id, status = self.status }
end

function Run:cancel()
  self.status = "cancelled"
  fake.cancelled = (fake.cancelled or 0) + 1
  return true
end

-- Cases with one metric each: `verdicts` is a list of true/false.
function fake.cases(metric, verdicts, scores)
  local cases = {}
  for i, v in ipairs(verdicts) do
    cases[i] = { name = "case " .. i, status = "completed", inputs = { utterance = "question " .. i },
                 outputs = { response = "answer " .. i, transcript = { { role = "user", content = "question " .. i },
                                                                      { role = "agent", content = "answer " .. i } } },
                 metrics = { { name = metric, passed = v, score = scores and scores[i] or (v and 1 or 0) } } }
  end
  return cases
end

-- For `evalua resume`: connect{} and attach(descriptor) as real providers do.
function fake.connect()
  return {
    attach = function(_, d)
      return setmetatable({ provider = "fake", id = d.id, status = "running",
                            spec = { after = 1, cases = fake.cases("m", { true, true }) } }, Run)
    end,
  }
end

return fake
