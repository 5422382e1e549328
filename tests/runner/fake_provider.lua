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
  hooks.emit("run_cancelled", self)
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

-- A scored run's results with a pass mark (as Kapso's `pass_score`): a case passes
-- when its score reaches it.
function Run:results(opts)
  local mark = opts and opts.pass_score
  for _, case in ipairs(self.cases) do
    for _, m in ipairs(mark and case.metrics or {}) do m.passed = m.score >= mark end
  end
  return self
end

-- For `evalua resume`: connect{} and attach(descriptor) as real providers do. The
-- configured base URL is `fake.base_url` (or connect's option); `fake.resumable[id]`
-- says how an attached run ends (default: two passing cases); `fake.contacted`
-- counts the attaches per base URL.
fake.resumable, fake.contacted = {}, {}
function fake.connect(opts)
  local base = opts and opts.base_url or fake.base_url
  return {
    base_url = base,
    results_options = { pass_score = "number" },
    attach = function(_, d)
      if base then fake.contacted[base] = (fake.contacted[base] or 0) + 1 end
      local spec = fake.resumable[d.id] or { cases = fake.cases("m", { true, true }) }
      return setmetatable({ provider = "fake", id = d.id, status = "running", cases = {},
                            spec = { after = 1, cases = spec.cases, status = spec.status } }, Run)
    end,
  }
end

return fake
