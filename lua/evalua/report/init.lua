-- Reporters: `-r NAME[:FILE]` specs, the fan-out of runner events to each, and output
-- sinks. NAME alone streams to stdout; NAME:FILE is streamed to a temporary file and
-- renamed into place when the session ends. Everything written goes through the secret
-- redaction when the host provides it.
local fs = require "evalua.fs"
local record = require "evalua.runner.record"

local report = {}

report.NAMES = { "pretty", "tap", "junit", "json", "html" }

local known = {}
for _, n in ipairs(report.NAMES) do known[n] = true end

-- Secrets registered with secret("NAME") never reach a report.
report.redact = require("evalua.redact").redact

-- Mask, in place, every string of a report model (a test entry, the session: plain data
-- the runner made, keys and values alike): reporters then escape, case and cut text that
-- holds no secret in any form. In place, so that reporters may key tables by entry.
function report.redact_model(v, seen)
  if type(v) ~= "table" then return end
  seen = seen or {}
  if seen[v] then return end
  seen[v] = true
  local renamed
  for k, x in pairs(v) do
    if type(x) == "string" then
      local masked = report.redact(x)
      if masked ~= x then v[k] = masked end
    else
      report.redact_model(x, seen)
    end
    if type(k) == "string" and report.redact(k) ~= k then
      renamed = renamed or {}
      renamed[k] = report.redact(k)
    end
    report.redact_model(k, seen)
  end
  for k, masked in pairs(renamed or {}) do
    v[masked], v[k] = v[k], nil
  end
end

-- "json:out/report.json" -> {name = "json", file = "out/report.json"}, or nil, error.
function report.parse(spec)
  local name, file = spec:match("^([%w_]+):(.+)$")
  name = name or spec
  if not known[name] then
    return nil, ("unknown reporter '%s' (one of: %s)"):format(name, table.concat(report.NAMES, ", "))
  end
  return { name = name, file = file }
end

-- The reporters for a list of -r specs: the pretty reporter goes to stdout unless
-- another reporter writes there. Returns the list, or nil and a message.
function report.parse_all(specs)
  local list, stdout_taken = {}, false
  for _, spec in ipairs(specs or {}) do
    local r, err = report.parse(spec)
    if not r then return nil, err end
    stdout_taken = stdout_taken or r.file == nil
    list[#list + 1] = r
  end
  if not stdout_taken then table.insert(list, 1, { name = "pretty" }) end
  return list
end

-- Whether fd 1 is a terminal.
local function stdout_is_tty()
  return require("evalua.readline").isatty(1)
end

local function stdout_sink()
  local tty = stdout_is_tty()
  return {
    tty = tty,
    color = require("evalua.progress").color(1), -- --color=WHEN, else a terminal without NO_COLOR
    write = function(s)
      io.stdout:write(report.redact(s))
      io.stdout:flush()
    end,
    close = function() end,
  }
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$")
end

-- Where a file report goes: an atomic file (a temporary file beside `path`, renamed
-- into place by commit; abort or an interrupted process leaves the old file). Device
-- files (/dev/stderr, /dev/null) are written in place: renaming over them would
-- replace the device.
local function open_file(path)
  if path:match("^/dev/") then
    local f = assert(io.open(path, "w"))
    return {
      write = function(_, s) assert(f:write(s)) end,
      commit = function() assert(f:close()) end,
      abort = function() f:close() end,
    }
  end
  local dir = dirname(path)
  if dir and dir ~= "" and not fs.isdir(dir) then fs.mkdir_p(dir) end
  return fs.atomic_file(path)
end

-- A file report, streamed: each piece is masked and written (buffered) as the reporter
-- makes it, never the whole report held in memory; close() puts the file in place.
-- Pieces are whole values of the report (a line, a test, a string), so a secret never
-- straddles two of them.
function report.file_sink(path)
  local file
  local function opened()
    file = file or open_file(path)
    return file
  end
  return {
    tty = false, color = false, path = path,
    write = function(s) opened():write(report.redact(s)) end,
    close = function() opened():commit() end,
    abort = function()
      if file then file:abort() end
    end,
  }
end

-- A string sink for tests and `report merge`: `text()` returns what was written.
function report.string_sink()
  local parts = {}
  return {
    tty = false, color = false,
    write = function(s) parts[#parts + 1] = s end,
    close = function() end,
    text = function() return table.concat(parts) end,
  }
end

local EVENTS = { "start", "planned", "test_start", "test_end", "run_event" }
-- How many leading arguments of each event are report models to mask; test_end's second
-- is the whole session (masked once, at finish); a run event's run is a live object
-- (only its provider, id and status are shown, by the stdout sink that masks them).
local MODELS = { start = 1, planned = 1, test_start = 1, test_end = 1, run_event = 0 }

local function failure_message(inst, err)
  return ("cannot write %s report%s: %s"):format(inst.reporter.name or "", inst.sink.path and (" " .. inst.sink.path) or "",
    tostring(err))
end

-- A reporter that failed (a file that cannot be written, a full disk) is stopped, its
-- file left out, and the failure reported at finish; the others go on.
local function call(inst, fn, ...)
  if inst.failed or not fn then return end
  local ok, err = pcall(fn, inst.reporter, ...)
  if not ok then
    inst.failed = failure_message(inst, err)
    if inst.sink.abort then pcall(inst.sink.abort) end
  end
end

-- A dispatcher over reporter instances. `list` holds {name, file} specs; opts are
-- passed to each reporter (e.g. journal path for resume hints).
function report.open(list, opts)
  local instances = {}
  for _, spec in ipairs(list) do
    local sink = spec.sink or (spec.file and report.file_sink(spec.file) or stdout_sink())
    local mod = require("evalua.report." .. spec.name)
    instances[#instances + 1] = { reporter = mod.new(sink, opts or {}), sink = sink }
  end
  local d = {}
  for _, ev in ipairs(EVENTS) do
    d[ev] = function(_, ...)
      for i = 1, MODELS[ev] do report.redact_model((select(i, ...))) end
      for _, inst in ipairs(instances) do call(inst, inst.reporter[ev], ...) end
    end
  end
  -- Finish every reporter; a file that cannot be written is reported, the others
  -- are still written. Returns the list of error messages.
  function d.finish(_, data)
    local failures = {}
    report.redact_model(data)
    for _, inst in ipairs(instances) do
      call(inst, inst.reporter.finish, data)
      call(inst, function() inst.sink.close() end)
      if inst.failed then failures[#failures + 1] = inst.failed end
    end
    d.errors = failures
    return failures
  end
  return d
end

-- An owner's (a test entry's, a file's) runs for a reporter to show: decoded from the
-- compact text a finished test keeps (runner.record), one owner at a time, masked with
-- every secret registered so far (the text holds them in JSON-escaped form, which the
-- redaction knows).
function report.runs(owner)
  return record.runs(owner, report.redact)
end

-- Write a finished session with one reporter to `sink` (then closed): `report merge`
-- streams a merged session to its file so. Raises the reporter's failure.
function report.write(name, data, sink, opts)
  local d = report.open({ { name = name, sink = sink } }, opts)
  d:start(data)
  d:planned(data)
  for _, e in ipairs(data.tests) do d:test_end(e, data) end
  local errs = d:finish(data)
  if #errs > 0 then error(errs[1], 0) end
end

-- Render a finished session with one reporter, as a string (resume, tests).
function report.render(name, data, opts)
  local sink = report.string_sink()
  report.write(name, data, sink, opts)
  return sink.text()
end

return report
