-- The one result model shared by the four providers: a Run has cases, a Case has metrics.
-- Mappers (`model.from.<provider>`, each in lua/evalua/providers/<provider>/mapper.lua)
-- turn each service's already-decoded documents into it, so assertions, reports and
-- graders never depend on which service ran the test.
-- Pure Lua: it needs no host global, only cjson for JSON that services nest inside strings.
local cjson = require "cjson.safe"
local errors = require "evalua.errors"

local model = {}
local null = cjson.null

local Run, Case, Metric = {}, {}, {}
Run.__index, Case.__index, Metric.__index = Run, Case, Metric
Run.__name, Case.__name, Metric.__name = "evalua.run", "evalua.case", "evalua.metric"

local known_providers = { agentforce = true, futureagi = true, kapso = true, glow = true }
model.Run, model.Case, model.Metric = Run, Case, Metric

---------------------------------------------------------------------------------------
-- Small value helpers

-- JSON null and absent are the same thing to the model.
local function val(v)
  if v == null then return nil end
  return v
end
model.value = val

-- A string field, or nil when absent, null or empty. (These helpers run for every field
-- of every case a mapper reads: val is inlined, and an absent field costs no call to type.)
local function text(v)
  if not v then return v == false and "false" or nil end -- (a test, not a comparison call)
  if type(v) == "string" then
    if v == "" then return nil end
    return v
  end
  if v == null then return nil end
  return tostring(v)
end
model.text = text

-- Numbers as Lua integers when integral, so that a decoded `1.0` prints as `1`.
local tointeger = math.tointeger

local function number(v)
  if not v then return nil end
  local t = type(v)
  if t == "string" then
    v = tonumber(v)
    t = type(v)
  end
  if t ~= "number" then return nil end
  return tointeger(v) or v
end
model.number = number

-- The named entities Salesforce's client decodes (forcedotcom/agents src/utils.ts
-- decodeHtmlEntities), as the characters HTML defines for them.
local named_entities = {
  quot = '"', apos = "'", amp = "&", lt = "<", gt = ">", nbsp = "\u{a0}", deg = "\u{b0}",
  ndash = "\u{2013}", mdash = "\u{2014}", lsquo = "\u{2018}", rsquo = "\u{2019}",
  ldquo = "\u{201c}", rdquo = "\u{201d}", hellip = "\u{2026}", trade = "\u{2122}",
  copy = "\u{a9}", reg = "\u{ae}", euro = "\u{20ac}", pound = "\u{a3}", yen = "\u{a5}",
  cent = "\u{a2}", times = "\u{d7}",
}

-- Salesforce HTML-escapes several text fields; decode in one pass so `&amp;quot;`
-- becomes `&quot;` and not `"`.
local find = string.find

local function unescape(s)
  if type(s) ~= "string" or not find(s, "&", 1, true) then return s end   -- the common case
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

-- text(v) with its entities decoded (unescape(text(v))), in one call.
function model.unescaped(v)
  if not v then return text(v) end
  if type(v) == "string" then
    if v == "" then return nil end
    if not find(v, "&", 1, true) then return v end
    return unescape(v)
  end
  return unescape(text(v))
end

-- Verdict words the services use, compared case-insensitively.
local verdicts = {
  PASS = true, PASSED = true, TRUE = true, SUCCESS = true,
  FAIL = false, FAILED = false, FAILURE = false, FALSE = false,
}

local function verdict(v)
  if not v then return v end
  local known = verdicts[v]              -- as sent, most often: no upper-case copy made
  if known ~= nil then return known end
  if v == true or v == false then return v end
  if type(v) == "string" then return verdicts[v:upper()] end
  return nil
end
model.verdict = verdict

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
model.error_text = error_text

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil):
-- plain arithmetic, so that no time zone or C library is involved.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- An ISO 8601 / RFC 3339 timestamp (`2026-03-15T10:30:00.123Z`, `+02:00`, a space for
-- the `T`; no offset is UTC) as seconds since the epoch, or nil.
local function timestamp(v)
  v = text(v)
  if not v then return nil end
  local y, mo, d, h, mi, s, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d%.?%d*)(.*)$")
  if not y then return nil end
  local offset = 0
  if rest ~= "" and rest ~= "Z" and rest ~= "z" then
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
end
model.timestamp = timestamp

-- Milliseconds from timestamp `from` to `to` (services that give only start and end
-- times), or nil when either is missing or unreadable or `to` comes first.
function model.elapsed_ms(from, to)
  local a, b = timestamp(from), timestamp(to)
  if not (a and b) or b < a then return nil end
  local ms = math.floor((b - a) * 1e6 + 0.5) / 1000 -- to the microsecond: no float noise
  return math.tointeger(ms) or ms
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
      out[i] = { role = text(m.role) or text(m.speaker_role) or text(m.speaker),
                 content = text(m.content) or text(m.message) or text(m.text) }
    else
      out[i] = { content = tostring(m) }
    end
  end
  return out
end
model.messages = messages

-- The agent's last words in a transcript.
local function last_reply(transcript)
  if type(transcript) ~= "table" then return nil end
  for i = #transcript, 1, -1 do
    local m = transcript[i]
    if m.role and assistant_roles[m.role:lower()] then return m.content end
  end
  return nil
end
model.last_reply = last_reply

---------------------------------------------------------------------------------------
-- Statuses

-- Each provider's mapper (lua/evalua/providers/<name>/mapper.lua) lists its raw statuses,
-- keyed upper-case without separators so that `IN_PROGRESS`, `InProgress` and
-- `in-progress` are the same (Salesforce has sent each).
local terminal = { completed = true, failed = true, cancelled = true, error = true }

-- Normalize a provider's raw status. An unknown value means "still running" (a poll must
-- not crash on a status the service added later); the second result says whether it was known.
local function normalize(provider, raw)
  raw = text(raw)
  if raw == nil then return "queued", false end
  local status = model.mapper(provider).statuses[raw:upper():gsub("[^%w]", "")]
  if status then return status, true end
  return "running", false
end

-- model.normalizer(provider) -> function(raw) -> what model.normalize(provider, raw)
-- returns, remembering what each raw string became: a service sends a handful of values
-- and a mapper normalizes every case's and metric's. At most 64 kept per provider, in case
-- a service sends a new value every time.
local normalizers = {}

function model.normalizer(provider)
  local fn = normalizers[provider]
  if fn then return fn end
  if not known_providers[provider] then return function(raw) return normalize(provider, raw) end end
  local seen, known_of, n = {}, {}, 0
  fn = function(raw)
    local status = seen[raw]
    if status then return status, known_of[raw] end
    local known
    status, known = normalize(provider, raw)
    if type(raw) == "string" and n < 64 then seen[raw], known_of[raw], n = status, known, n + 1 end
    return status, known
  end
  normalizers[provider] = fn
  return fn
end

function model.normalize(provider, raw)
  return (normalizers[provider] or model.normalizer(provider))(raw)
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
model.need_table, model.maybe_table, model.kind_of = need_table, maybe_table, kind_of

local function need_name(v, argn, fname, what)
  if type(v) ~= "string" then
    errors.argerror(argn, fname, ("%s expected, got %s"):format(what, kind_of(v)))
  end
  return v
end

---------------------------------------------------------------------------------------
-- Constructors

function model.metric(fields)
  if type(fields) ~= "table" then need_table(fields, 1, "metric", "table of fields") end
  return setmetatable(fields, Metric)
end

-- The case fields of latency, token usage and cost that a mapper fills where the service
-- reports them (docs/providers/model.md).
model.USAGE = { "latency_ms", "input_tokens", "output_tokens", "total_tokens", "cost", "cost_currency" }

-- Copy those of `usage` into the case fields `fields`; returns `fields`.
function model.with_usage(fields, usage)
  local keys = model.USAGE
  for i = 1, #keys do
    local k = keys[i]
    if usage[k] ~= nil then fields[k] = usage[k] end
  end
  return fields
end

function model.case(fields)
  if type(fields) ~= "table" then need_table(fields, 1, "case", "table of fields") end
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
  line = line .. (", %d %s: %d passed, %d failed"):format(s.total, s.total == 1 and "case" or "cases", s.passed, s.failed)
  if s.unknown > 0 then line = line .. (", %d without verdict"):format(s.unknown) end
  if self.error then line = line .. "; error: " .. tostring(self.error) end
  return line
end

---------------------------------------------------------------------------------------
-- Mappers: model.from.<provider>(document(s), opts) -> Run, loaded on first use (a mapper
-- requires this module, so it cannot be loaded while this one is).


-- A provider's mapper module: {run = function(docs..., opts) -> Run, statuses = {...}}.
function model.mapper(provider)
  if not known_providers[provider] then
    errors.argerror(1, "mapper", ("unknown provider '%s'"):format(tostring(provider)))
  end
  return require("evalua.providers." .. provider .. ".mapper")
end

model.from = setmetatable({}, { __index = function(t, provider)
  if not known_providers[provider] then return nil end
  local fn = model.mapper(provider).run
  rawset(t, provider, fn)
  return fn
end })

return model
