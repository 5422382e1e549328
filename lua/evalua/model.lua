-- The one result model shared by the four providers: a Run has cases, a Case has metrics.
-- Mappers (`model.from.<provider>`) turn each service's already-decoded documents into it,
-- so assertions, reports and graders never depend on which service ran the test.
-- Pure Lua: it needs no host global, only cjson for JSON that services nest inside strings.
local cjson = require "cjson.safe"
local errors = require "evalua.errors"

local model = {}
local null = cjson.null

local Run, Case, Metric = {}, {}, {}
Run.__index, Case.__index, Metric.__index = Run, Case, Metric
Run.__name, Case.__name, Metric.__name = "evalua.run", "evalua.case", "evalua.metric"
model.Run, model.Case, model.Metric = Run, Case, Metric

---------------------------------------------------------------------------------------
-- Small value helpers

-- JSON null and absent are the same thing to the model.
local function val(v)
  if v == null then return nil end
  return v
end
model.value = val

-- A string field, or nil when absent, null or empty.
local function text(v)
  v = val(v)
  if v == nil or v == "" then return nil end
  return type(v) == "string" and v or tostring(v)
end

-- Numbers as Lua integers when integral, so that a decoded `1.0` prints as `1`.
local function number(v)
  v = val(v)
  if type(v) == "string" then v = tonumber(v) end
  if type(v) ~= "number" then return nil end
  return math.tointeger(v) or v
end

local named_entities = { quot = '"', apos = "'", amp = "&", lt = "<", gt = ">", nbsp = "\u{a0}" }

-- Salesforce HTML-escapes several text fields; decode in one pass so `&amp;quot;`
-- becomes `&quot;` and not `"`.
local function unescape(s)
  if type(s) ~= "string" or not s:find("&", 1, true) then return s end   -- the common case
  return (s:gsub("&(#?)([xX]?)(%w+);", function(hash, x, body)
    if hash == "#" then
      local code = tonumber(body, x ~= "" and 16 or 10)
      if code and code < 0x110000 then return utf8.char(code) end
      return nil
    end
    return named_entities[x .. body]
  end))
end
model.unescape = unescape

-- Verdict words the services use, compared case-insensitively.
local verdicts = {
  PASS = true, PASSED = true, TRUE = true, SUCCESS = true,
  FAIL = false, FAILED = false, FAILURE = false, FALSE = false,
}

local function verdict(v)
  v = val(v)
  if type(v) == "boolean" then return v end
  if type(v) == "string" then return verdicts[v:upper()] end
  return nil
end

-- A list of action names from a list, a JSON string, or Salesforce's entity-encoded
-- Python-style string (`"[&#39;A&#39;, &#39;B&#39;]"`).
local function action_list(v)
  v = val(v)
  if type(v) == "table" then return v end
  if type(v) ~= "string" then return nil end
  local s = unescape(v)
  local decoded = cjson.decode(s)
  if type(decoded) == "table" then return decoded end
  local list = {}
  if s:match("^%s*%[") then
    for _, item in s:gmatch("(['\"])(.-)%1") do list[#list + 1] = item end
  elseif s:match("%S") then
    list[1] = s
  end
  return list
end

-- An error field as text: nil when absent, false or `{}` (Kapso's "no error"), the
-- message of an error object, else the object as JSON.
local function error_text(e)
  e = val(e)
  if type(e) == "boolean" then return e and "error" or nil end
  if type(e) == "table" then
    if next(e) == nil then return nil end
    return text(e.message) or text(e.error) or cjson.encode(e)
  end
  return text(e)
end

local assistant_roles = { assistant = true, agent = true, bot = true, ai = true }

-- Messages as `{role, content}`, from a list of messages or a `{messages = [...]}` table;
-- anything else (a plain transcript string) is returned untouched.
local function messages(v)
  v = val(v)
  if type(v) ~= "table" then return v end
  local list = val(v.messages) or v
  if #list == 0 then return nil end
  local out = {}
  for i, m in ipairs(list) do
    if type(m) == "table" then
      out[i] = { role = text(m.role) or text(m.speaker),
                 content = text(m.content) or text(m.message) or text(m.text) }
    else
      out[i] = { content = tostring(m) }
    end
  end
  return out
end

-- The agent's last words in a transcript.
local function last_reply(transcript)
  if type(transcript) ~= "table" then return nil end
  for i = #transcript, 1, -1 do
    local m = transcript[i]
    if m.role and assistant_roles[m.role:lower()] then return m.content end
  end
  return nil
end

---------------------------------------------------------------------------------------
-- Statuses

-- Raw statuses per provider, keyed upper-case without separators so that `IN_PROGRESS`,
-- `InProgress` and `in-progress` are the same (Salesforce has sent each).
local statuses = {
  agentforce = {
    NEW = "queued", CREATED = "queued", INPROGRESS = "running",
    COMPLETED = "completed", SUCCESS = "completed", FAILED = "failed",
    ERROR = "error", TERMINATED = "cancelled",
  },
  futureagi = {
    NOTFOUND = "queued", STARTED = "queued", PENDING = "queued", QUEUED = "queued",
    RUNNING = "running", ONGOING = "running", ANALYZING = "running",
    EVALUATING = "running", CANCELLING = "running",
    COMPLETED = "completed", FAILED = "failed", CANCELLED = "cancelled",
  },
  glow = { NOTSTARTED = "queued", INPROGRESS = "running", COMPLETED = "completed" },
}

local terminal = { completed = true, failed = true, cancelled = true, error = true }

-- Normalize a provider's raw status. An unknown value means "still running" (a poll must
-- not crash on a status the service added later); the second result says whether it was known.
function model.normalize(provider, raw)
  raw = text(raw)
  if raw == nil then return "queued", false end
  local status = statuses[provider][raw:upper():gsub("[^%w]", "")]
  if status then return status, true end
  return "running", false
end

function model.terminal(status)
  return terminal[status] == true
end

---------------------------------------------------------------------------------------
-- Argument checks: a wrong argument is blamed on the user's line, naming the function.

local function kind_of(v)
  return v == nil and "no value" or type(v)
end

local function need_table(v, argn, fname, what)
  if type(v) ~= "table" then
    errors.argerror(argn, fname, ("%s expected, got %s"):format(what or "table", kind_of(v)))
  end
  return v
end

local function maybe_table(v, argn, fname)
  if v ~= nil then need_table(v, argn, fname) end
  return v or {}
end

local function need_name(v, argn, fname, what)
  if type(v) ~= "string" then
    errors.argerror(argn, fname, ("%s expected, got %s"):format(what, kind_of(v)))
  end
  return v
end

---------------------------------------------------------------------------------------
-- Constructors

function model.metric(fields)
  return setmetatable(need_table(fields, 1, "metric", "table of fields"), Metric)
end

function model.case(fields)
  need_table(fields, 1, "case", "table of fields")
  fields.inputs = fields.inputs or {}
  fields.outputs = fields.outputs or {}
  fields.metrics = fields.metrics or {}
  return setmetatable(fields, Case)
end

function model.run(fields)
  need_table(fields, 1, "run", "table of fields")
  fields.cases = fields.cases or {}
  return setmetatable(fields, Run)
end

---------------------------------------------------------------------------------------
-- Metric, Case and Run helpers

function Metric:__tostring()
  local v = self.passed == true and "PASS" or self.passed == false and "FAIL" or "-"
  local s = self.name .. ": " .. v
  if self.score then s = s .. " (score " .. tostring(self.score) .. ")" end
  if self.label and self.label ~= self.name then s = s .. " [" .. self.label .. "]" end
  return s
end

-- The first metric called `name`.
function Case:metric(name)
  need_name(name, 1, "metric", "metric name (string)")
  for _, m in ipairs(self.metrics) do
    if m.name == name then return m end
  end
  return nil
end

-- true: at least one metric passed and none failed; false: the case errored or failed,
-- or a metric failed; nil: no verdict yet (no pass/fail metric, pending evals, no threshold).
function Case:passed()
  if self.status == "error" or self.status == "failed" then return false end
  local result
  for _, m in ipairs(self.metrics) do
    if m.passed == false then return false end
    if m.passed == true then result = true end
  end
  return result
end

function Case:failed_metrics()
  local out = {}
  for _, m in ipairs(self.metrics) do
    if m.passed == false then out[#out + 1] = m end
  end
  return out
end

function Case:__tostring()
  local p = self:passed()
  return ("case %s: %s, %s, %d metrics"):format(self.name, self.status or "?",
    p == true and "passed" or p == false and "failed" or "no verdict", #self.metrics)
end

function Run:done()
  return terminal[self.status] == true
end

-- A case by name, or by position when `key` is a number.
function Run:case(key)
  if type(key) == "number" then return self.cases[key] end
  need_name(key, 1, "case", "case name (string) or position (number)")
  for _, c in ipairs(self.cases) do
    if c.name == key then return c end
  end
  return nil
end

function Run:failed_cases()
  local out = {}
  for _, c in ipairs(self.cases) do
    if c:passed() == false then out[#out + 1] = c end
  end
  return out
end

-- Share of passing verdicts among cases (or among metrics named `metric`) that have one.
-- Returns rate, passed, judged; the rate is nil when nothing was judged, so that a
-- threshold check cannot pass on an empty run.
function Run:pass_rate(metric)
  if metric ~= nil then need_name(metric, 1, "pass_rate", "metric name (string)") end
  local passed, judged = 0, 0
  local function count(v)
    if v ~= nil then
      judged = judged + 1
      if v then passed = passed + 1 end
    end
  end
  for _, c in ipairs(self.cases) do
    if metric then
      for _, m in ipairs(c.metrics) do
        if m.name == metric then count(m.passed) end
      end
    else
      count(c:passed())
    end
  end
  if judged == 0 then return nil, 0, 0 end
  return passed / judged, passed, judged
end

-- true when the run completed and every case passed; false when the run or a case failed;
-- nil while unfinished or when some case has no verdict.
function Run:passed()
  if self.status == "failed" or self.status == "error" or self.status == "cancelled" then
    return false
  end
  local result = self.status == "completed" and #self.cases > 0 or nil
  for _, c in ipairs(self.cases) do
    local p = c:passed()
    if p == false then return false end
    if p == nil then result = nil end
  end
  return result
end

-- Metric names in first-seen order.
function Run:metric_names()
  local names, seen = {}, {}
  for _, c in ipairs(self.cases) do
    for _, m in ipairs(c.metrics) do
      if not seen[m.name] then
        seen[m.name] = true
        names[#names + 1] = m.name
      end
    end
  end
  return names
end

-- Every metric called `name`, across cases (for distributions).
function Run:metrics(name)
  need_name(name, 1, "metrics", "metric name (string)")
  local out = {}
  for _, c in ipairs(self.cases) do
    for _, m in ipairs(c.metrics) do
      if m.name == name then out[#out + 1] = m end
    end
  end
  return out
end

-- The numeric scores of the metrics called `name`.
function Run:scores(name)
  need_name(name, 1, "scores", "metric name (string)")
  local out = {}
  for _, m in ipairs(self:metrics(name)) do
    if m.score then out[#out + 1] = m.score end
  end
  return out
end

-- Case counts: total, passed, failed, unknown (no verdict), errored (case status error).
function Run:summary()
  local s = { total = #self.cases, passed = 0, failed = 0, unknown = 0, errored = 0 }
  for _, c in ipairs(self.cases) do
    local p = c:passed()
    if p == true then s.passed = s.passed + 1
    elseif p == false then s.failed = s.failed + 1
    else s.unknown = s.unknown + 1 end
    if c.status == "error" then s.errored = s.errored + 1 end
  end
  return s
end

function Run:__tostring()
  local s = self:summary()
  local line = ("%s run %s: %s"):format(self.provider or "?", tostring(self.id), self.status or "?")
  if self.raw_status and self.raw_status ~= self.status then
    line = line .. " (" .. self.raw_status .. ")"
  end
  line = line .. (", %d cases: %d passed, %d failed"):format(s.total, s.passed, s.failed)
  if s.unknown > 0 then line = line .. (", %d without verdict"):format(s.unknown) end
  if self.error then line = line .. "; error: " .. tostring(self.error) end
  return line
end

---------------------------------------------------------------------------------------
-- Mappers: model.from.<provider>(document(s), opts) -> Run

model.from = {}

-- Salesforce ai-evaluations expectation (both generations: result/score and metricScore).
local function agentforce_metric(r)
  local result = val(r.result)
  if result == nil then result = val(r.metricScore) end
  return model.metric {
    name = text(r.name),
    passed = verdict(result),
    score = number(r.score),
    label = text(r.metricLabel),
    expected = unescape(text(r.expectedValue)),
    actual = unescape(text(r.actualValue)),
    reason = unescape(text(r.metricExplainability)),
    error = text(r.errorMessage),
    status = text(r.status) and model.normalize("agentforce", r.status),
    raw = r,
  }
end

-- The ai-testing variant nests each scorer's verdict as a JSON string.
local function agentforce_scorer(r)
  local response = val(r.scorerResponse)
  local detail = type(response) == "string" and cjson.decode(response) or response
  if type(detail) ~= "table" then detail = { reason = response } end
  local passed
  for _, field in ipairs { "result", "status", "metricScore", "passed" } do
    if passed == nil then passed = verdict(detail[field]) end
  end
  return model.metric {
    name = text(r.scorerName),
    passed = passed,
    score = number(detail.score),
    expected = unescape(text(detail.expectedValue)),
    actual = unescape(text(detail.actualValue)),
    reason = unescape(text(detail.reasoning) or text(detail.reason)
      or text(detail.metricExplainability)),
    raw = r,
  }
end

local function agentforce_case(tc, run_status)
  local data = val(tc.generatedData) or {}
  local inputs = val(tc.inputs) or {}
  local utterance = unescape(text(inputs.utterance))
  -- Salesforce's client leaves `outcome` encoded; decoded, assertions on it read naturally.
  local response = unescape(text(data.outcome))
  local subject = val(tc.subjectResponse)
  if subject ~= nil then
    local decoded = type(subject) == "string" and cjson.decode(subject)
    response = type(decoded) == "table" and text(decoded.content) or text(subject)
  end
  local transcript
  if utterance or response then
    transcript = {}
    if utterance then transcript[#transcript + 1] = { role = "user", content = utterance } end
    if response then transcript[#transcript + 1] = { role = "assistant", content = response } end
  end
  local status = text(tc.status) and model.normalize("agentforce", tc.status)
    or (terminal[run_status] and "completed" or "running")
  local c = model.case {
    name = tostring(number(tc.testNumber) or "?"),
    number = number(tc.testNumber),
    status = status,
    raw_status = text(tc.status),
    started_at = text(tc.startTime),
    ended_at = text(tc.endTime),
    inputs = { utterance = utterance },
    outputs = {
      response = response,
      topic = text(data.topic),
      actions = action_list(data.actionsSequence),
      invoked_actions = unescape(text(data.invokedActions)),
      session_id = text(data.sessionId),
      transcript = transcript,
    },
    error = text(tc.errorMessage),
    raw = tc,
  }
  for _, r in ipairs(val(tc.testResults) or {}) do
    c.metrics[#c.metrics + 1] = agentforce_metric(r)
  end
  for _, r in ipairs(val(tc.testScorerResults) or {}) do
    c.metrics[#c.metrics + 1] = agentforce_scorer(r)
  end
  return c
end

-- A Salesforce results document (ai-evaluations or ai-testing), or a status document.
function model.from.agentforce(doc, opts)
  need_table(doc, 1, "from.agentforce", "results or status document (table)")
  opts = maybe_table(opts, 2, "from.agentforce")
  local status = model.normalize("agentforce", doc.status)
  local run = model.run {
    provider = "agentforce",
    id = opts.id,
    status = status,
    raw_status = text(doc.status),
    started_at = text(doc.startTime),
    ended_at = text(doc.endTime),
    subject = text(doc.subjectName),
    error = text(doc.errorMessage),
    raw = doc,
  }
  for _, tc in ipairs(val(doc.testCases) or {}) do
    run.cases[#run.cases + 1] = agentforce_case(tc, status)
  end
  return run
end

-- A choices eval answers a string, a list, or `{score, choice|choices}`.
local function choice(v)
  if type(v) == "string" then return v end
  if type(v) ~= "table" then return nil end
  if #v > 0 then return table.concat(v, ", ") end
  local picked = val(v.choice) or val(v.choices)
  if type(picked) == "table" then picked = table.concat(picked, ", ") end
  return text(picked), number(v.score)
end

-- One entry of a call's `eval_outputs`: `{value, reason, type, name, error, status, skipped}`
-- (newer servers: `output`, `output_type` and the axes output_pass/score/choices).
-- A pending eval is `{}`: it yields a metric with no verdict yet, named from `names`.
local function futureagi_metric(id, e, names)
  local m = { name = text(e.name) or names[id] or id, id = id, raw = e }
  if next(e) == nil then
    m.status = "running"
    return model.metric(m)
  end
  local value = val(e.value)
  if value == nil then value = val(e.output) end
  local kind = (text(e.type) or text(e.output_type) or ""):lower()
  m.reason = text(e.reason)
  m.error = error_text(e.error)
  m.skipped = val(e.skipped) == true or nil
  m.status = m.error and "error" or m.skipped and "skipped" or "completed"
  if kind:find("pass", 1, true) or type(value) == "boolean" then
    m.passed = verdict(value)
  elseif kind:find("choice", 1, true) then
    m.label, m.score = choice(value)
  elseif number(value) then
    m.score = number(value)
  elseif verdict(value) ~= nil then
    m.passed = verdict(value)
  else
    m.label = choice(value)
  end
  if m.passed == nil then m.passed = verdict(e.output_pass) end
  if m.score == nil then m.score = number(e.output_score) end
  if m.label == nil then m.label = choice(val(e.output_choices)) end
  return model.metric(m)
end

local function futureagi_case(call, names)
  local transcript = messages(call.transcript)
  local scenario = val(call.scenario)
  local scenario_name = type(scenario) == "table" and text(scenario.name) or text(scenario)
  local status = model.normalize("futureagi", call.status)
  local c = model.case {
    name = scenario_name or text(call.scenario_id) or text(call.id),
    id = text(call.id),
    status = status,
    raw_status = text(call.status),
    score = number(call.overall_score),
    duration = number(call.duration_seconds),
    inputs = { scenario = scenario, scenario_id = text(call.scenario_id) },
    outputs = {
      response = last_reply(transcript),
      transcript = transcript,
      summary = text(call.call_summary),
      ended_reason = text(call.ended_reason),
    },
    error = error_text(call.error) or (status == "failed" and text(call.ended_reason) or nil),
    raw = call,
  }
  local outputs = val(call.eval_outputs) or {}
  local ids = {}
  for id in pairs(outputs) do ids[#ids + 1] = id end
  table.sort(ids) -- a JSON object has no order; keep reports stable
  for _, id in ipairs(ids) do
    c.metrics[#c.metrics + 1] = futureagi_metric(id, val(outputs[id]) or {}, names)
  end
  return c
end

-- Eval config id -> name. A pending eval output (`{}`) carries no name: take it from
-- `opts.eval_names` (the run test's eval configs) or from another call's finished output.
local function futureagi_eval_names(calls, given)
  local names = {}
  for id, name in pairs(given or {}) do names[id] = name end
  for _, call in ipairs(calls) do
    for id, e in pairs(val(call.eval_outputs) or {}) do
      names[id] = names[id] or (type(e) == "table" and text(e.name)) or nil
    end
  end
  return names
end

-- Future AGI: the run-test status document (for the execution) and its per-call results.
-- `opts`: id, run_test_id, eval_names ({[eval_config_id] = name}).
function model.from.futureagi(status_doc, calls, opts)
  status_doc = maybe_table(status_doc, 1, "from.futureagi")
  calls = maybe_table(calls, 2, "from.futureagi")
  opts = maybe_table(opts, 3, "from.futureagi")
  local run = model.run {
    provider = "futureagi",
    id = opts.id or text(status_doc.execution_id),
    run_test_id = opts.run_test_id or text(status_doc.run_test_id),
    status = model.normalize("futureagi", status_doc.status),
    raw_status = text(status_doc.status),
    started_at = text(status_doc.start_time),
    ended_at = text(status_doc.end_time),
    cases_done = number(status_doc.completed_calls), cases_total = number(status_doc.total_calls),
    raw = status_doc,
  }
  if run.status == "failed" then run.error = text(status_doc.message) or text(status_doc.error) end
  local names = futureagi_eval_names(calls, opts.eval_names)
  for _, call in ipairs(calls) do
    run.cases[#run.cases + 1] = futureagi_case(call, names)
  end
  return run
end


-- A Kapso test run. Kapso gives a score and feedback but no verdict: `passed` is set only
-- when the script chose a threshold (`opts.pass_score`).
function model.from.kapso(doc, opts)
  need_table(doc, 1, "from.kapso", "test run document (table)")
  opts = maybe_table(opts, 2, "from.kapso")
  if opts.pass_score ~= nil and type(opts.pass_score) ~= "number" then
    errors.argerror(2, "from.kapso", "pass_score must be a number, got " .. kind_of(opts.pass_score))
  end
  local err = error_text(doc.error)
  local finished = val(doc.execution_completed) == true and val(doc.ended_at) ~= nil
  local status = err and "error" or finished and "completed"
    or val(doc.started_at) and "running" or "queued"
  local tc = val(doc.test_case) or {}
  local transcript = messages(doc.conversation)
  local c = model.case {
    name = text(tc.name) or text(tc.id) or text(doc.id),
    id = text(tc.id),
    status = status,
    inputs = { script = text(tc.script), rubric = text(tc.rubric) },
    outputs = { response = last_reply(transcript), transcript = transcript,
                thread_id = text(doc.thread_id) },
    error = err,
    raw = doc,
  }
  local score = number(doc.score)
  if score ~= nil or text(doc.feedback) then
    local passed
    if score ~= nil and opts.pass_score ~= nil then passed = score >= opts.pass_score end
    c.metrics[1] = model.metric { name = "score", score = score, passed = passed,
                                  reason = text(doc.feedback), status = "completed" }
  end
  return model.run {
    provider = "kapso",
    id = opts.id or text(doc.id),
    test_case_id = text(tc.id),
    status = status,
    started_at = text(doc.started_at),
    ended_at = text(doc.ended_at),
    error = err,
    cases = status == "queued" and {} or { c },
    raw = doc,
  }
end

local function glow_case(item, invocation, chat)
  invocation = invocation or {}
  local score, passed = number(item.grade_score), val(item.grade_passed)
  if score == nil and passed == nil then
    score, passed = number(invocation.grade_score), val(invocation.grade_passed)
  end
  local status = model.normalize("glow", item.status)
  if val(item.status) == nil and val(invocation.invocation_completed) == true then
    status = "completed"
  end
  local transcript = messages(chat and val(chat.messages))
  local c = model.case {
    name = text(invocation.invocation_title) or text(item.run_id) or text(item.chat_id),
    id = text(item.run_id),
    invocation_id = text(item.invocation_id),
    status = status,
    raw_status = text(item.status),
    inputs = { title = text(invocation.invocation_title), suite_entry_id = text(item.suite_entry_id) },
    outputs = { chat_id = text(item.chat_id), model = text(item.model_name),
                agent = text(item.agent_name), transcript = transcript,
                response = last_reply(transcript) },
    raw = item,
  }
  if score ~= nil or passed ~= nil then
    c.metrics[1] = model.metric { name = "grade", score = score, passed = verdict(passed),
                                  reason = text(invocation.grade_feedback), status = "completed" }
  end
  return c
end

-- Run transcripts, when the `get` document carries them (`entries.chats[]`), by chat id.
local function glow_chats(doc)
  local entries = val(doc.entries)
  local chats = {}
  for _, chat in ipairs(type(entries) == "table" and val(entries.chats) or {}) do
    chats[text(chat.chat_id) or ""] = chat
  end
  return chats
end

-- A Glow `get` document. With `opts.run_id` the Run is that one replay; without it, the
-- whole test, one case per run item.
function model.from.glow(doc, opts)
  need_table(doc, 1, "from.glow", "test document (table)")
  opts = maybe_table(opts, 2, "from.glow")
  local invocations = {}
  for _, inv in ipairs(val(doc.invocations) or {}) do
    invocations[text(inv.invocation_id) or ""] = inv
  end
  local chats = glow_chats(doc)
  local run = model.run { provider = "glow", raw = doc, raw_status = text(doc.status) }
  local test = val(doc.test) or {}
  run.test_id = opts.test_id or text(test.test_id)
  for _, item in ipairs(val(doc.runs) or {}) do
    if opts.run_id == nil or text(item.run_id) == opts.run_id then
      run.cases[#run.cases + 1] = glow_case(item, invocations[text(item.invocation_id) or ""],
        chats[text(item.chat_id) or ""])
    end
  end
  if opts.run_id then
    run.id = opts.id or opts.run_id
    local c = run.cases[1]
    run.status = c and c.status or "queued"
    run.raw_status = c and c.raw_status
  else
    run.id = opts.id or run.test_id
    local s = val(doc.status_summary) or {}
    local total, completed = number(s.total) or 0, number(s.completed) or 0
    run.cases_done, run.cases_total = number(s.completed), number(s.total)
    run.status = total > 0 and completed >= total and "completed"
      or (completed > 0 or (number(s.in_progress) or 0) > 0) and "running" or "queued"
  end
  return run
end

return model
