--- runner.baseline: `evalua test --baseline FILE` and `--save-baseline FILE`. A baseline
-- is a JSON session report (what `-r json:FILE` writes), so `evalua report diff` reads it
-- too. Thresholds declared `{ no_worse_than = ... }` are judged against the values
-- measured in it over the same file and describe block. --save-baseline writes one only
-- when the session passed, unless --save-baseline-always (then it says so).
local diff = require "evalua.report.diff"
local json_report = require "evalua.report.json"
local report = require "evalua.report"
local session = require "evalua.runner.session"
local threshold = require "evalua.runner.threshold"

local baseline = {}

baseline.MISSING = { fail = true, skip = true }

--- baseline.read(path) -> the session report at `path`, checked; raises a message naming
-- the file (cannot read it, not JSON, not an evalua report, a field of the wrong shape).
function baseline.read(path)
  local text, err = session.read(path)
  if not text then error("cannot read " .. tostring(err), 0) end -- (the message names the file)
  return diff.check(session.decode(text, path), path)
end

--- baseline.load(path) -> {file, data}: a report to judge against. A shard's own report
-- holds only part of the suite: it is refused (merge the shards first).
function baseline.load(path)
  local data = baseline.read(path)
  if data.shard and not data.merged then
    error(("%s: the report of shard %s only; merge the shards (evalua report merge) and use that as the "
      .. "baseline"):format(path, data.shard), 0)
  end
  if #data.tests == 0 then error(("%s: a report with no tests cannot be a baseline"):format(path), 0) end
  return { file = path, data = data }
end

--- baseline.attach(data, b, missing): session `data` is judged against baseline `b`
-- (from load; nil when none was given); `missing` ("fail", the default, or "skip") says
-- what a relative gate without a baseline value does. The report records which baseline.
function baseline.attach(data, b, missing)
  threshold.use_baseline(data, { file = b and b.file, data = b and b.data, missing = missing or "fail" })
  data.baseline = { file = b and b.file, started_at = b and b.data.started_at, exit_code = b and b.data.exit_code,
                    missing = missing or "fail" }
end

--- baseline.save(path, data, always) -> true, or false and why it was not written. The
-- report is written whole (temporary file, then renamed into place), secrets redacted.
function baseline.save(path, data, always)
  if data.interrupted then return false, "the session was interrupted" end
  if data.exit_code ~= 0 and not always then
    return false, ("the session did not pass (exit %d); --save-baseline-always saves it anyway"):format(data.exit_code)
  end
  local sink = report.file_sink(path)
  json_report.new(sink).finish(nil, data)
  sink.close()
  return true
end

return baseline
