-- `evalua report diff BASE NEW`: what changed between two JSON reports (`evalua test -r
-- json:FILE`): tests and cases that regressed or were fixed, score deltas, new and
-- vanished cases, pass rates per metric. BASE and NEW may be runs of the journal instead
-- (--journal), fetched from their services; the service's own comparison is shown
-- beside evalua's where there is one (--service; automatic with --journal). Exit code 1
-- when anything regressed, 0 when nothing did, 2 on bad input, 3 when a report cannot be
-- written, 4 when a service could not be reached.
local args = require "evalua.runner.args"
local baseline = require "evalua.runner.baseline"
local diff = require "evalua.report.diff"
local diff_journal = require "evalua.report.diff_journal"
local diff_service = require "evalua.report.diff_service"
local errors = require "evalua.errors"
local json = require "evalua.json"
local reattach = require "evalua.reattach"
local report = require "evalua.report"

local cli = {}

local OPTIONS = {
  { long = "--format", arg = "FORMAT", help = "what goes to stdout: pretty (default), json or html" },
  { long = "--output", short = "-o", arg = "FILE", many = true,
    help = "also write FILE, in the format of its extension (.json, .html, .txt; repeatable)" },
  { long = "--journal", arg = "PATH", help = "BASE and NEW are runs of this journal: provider:id, last, last~N" },
  { long = "--timeout", short = "-t", arg = "DURATION", help = "with --journal: how long to wait for a run (default 10m)" },
  { long = "--allow-origin", arg = "URL", many = true,
    help = "with --journal: contact runs at this origin (scheme://host:port) too, with your credentials" },
  { long = "--service", help = "also show the service's own comparison (Future AGI eval-summary-comparison)" },
  { long = "--help", short = "-h", help = "show this help" },
}

local USAGE = [[
usage: evalua report diff BASE.json NEW.json [--format pretty|json|html] [-o FILE]...
       evalua report diff --journal PATH BASE NEW [...]    (BASE, NEW: provider:id, last, last~N)

Compares two JSON reports written by `evalua test -r json:FILE`: per test, case and
metric what regressed (passed, now not), what was fixed, score deltas, new and vanished
tests and cases, and the pass rate of every metric with its counts. Cases are matched by
a key per provider (docs/testing.md, "Comparing runs"); those without one are listed.
Latency p50/p95, tokens and cost are compared where cases report them (shown, not judged).
A baseline written by `evalua test --save-baseline` is a JSON report too.
With --journal, BASE and NEW are runs the journal recorded; their results are fetched
from the services with your configuration (as for `evalua resume`). With --service (and
always with --journal), two Future AGI executions of one run test are also compared by
the service itself (eval-summary-comparison), shown beside evalua's figures.
Exit code: 1 anything regressed or vanished, or no case could be matched; 0 nothing
regressed; 2 bad input; 4 a service could not be reached.

options:
]]

local FORMATS = { pretty = true, json = true, html = true }
local EXTENSIONS = { json = "json", html = "html", htm = "html", txt = "pretty" }

local function usage_error(msg)
  io.stderr:write("evalua report diff: ", msg, "\n")
  return 2
end

local function load_report(path)
  local ok, data = pcall(baseline.read, path)
  if not ok then return nil, tostring(data) end
  return data
end

local function render(format, d, color)
  if format == "json" then
    for _, k in ipairs({ "tests", "cases", "metrics", "unmatched" }) do json.array(d[k]) end
    for _, c in ipairs(d.cases) do if c.metrics then json.array(c.metrics) end end
    if d.usage then json.array(d.usage.runs) end
    for _, e in ipairs(d.service or {}) do json.array(e.evals) end
    return json.encode(d, { indent = 2, sort_keys = true }) .. "\n"
  elseif format == "html" then
    return require("evalua.report.diff_html").render(d)
  end
  return require("evalua.report.diff_pretty").render(d, { color = color })
end

-- The exit code for an error raised while fetching: a provider's error by its kind (4
-- infra, 2 configuration); a message of ours is about the arguments (2).
local function fetch_failed(what, err)
  io.stderr:write("evalua report diff: ", what, ": ", tostring(err), "\n")
  if not errors.is(err) then return 2 end
  return require("evalua.boot").exit_code(err)
end

-- BASE and NEW as session reports with their names, or nil and the exit code.
local function load_sides(o, rest)
  if not o.journal then
    local base, err = load_report(rest[1])
    if not base then return nil, usage_error(err) end
    local new
    new, err = load_report(rest[2])
    if not new then return nil, usage_error(err) end
    if #base.tests == 0 then return nil, usage_error(rest[1] .. ": BASE has no tests to compare against") end
    return { base = base, new = new, base_name = rest[1], new_name = rest[2] }
  end
  local opts = { allow_origin = {} }
  local err
  opts.timeout, err = args.duration(o.timeout or "10m", "--timeout")
  if not opts.timeout then return nil, usage_error(err) end
  for _, url in ipairs(o.allow_origin or {}) do
    local at = reattach.origin(url)
    if not at then return nil, usage_error(("--allow-origin expects scheme://host[:port], got '%s'"):format(url)) end
    opts.allow_origin[at] = true
  end
  local entries = {}
  for i = 1, 2 do
    local ok, e = pcall(diff_journal.find, o.journal, rest[i])
    if not ok then return nil, usage_error(("%s %s: %s"):format(i == 1 and "BASE" or "NEW", rest[i], e)) end
    entries[i] = e
  end
  if entries[1].key == entries[2].key then
    return nil, usage_error(("BASE %s and NEW %s are the same run, %s"):format(rest[1], rest[2], entries[1].key))
  end
  local sides = {}
  for i, side in ipairs({ "base", "new" }) do
    local ok, data, name = pcall(diff_journal.load, entries[i], o.journal, opts)
    if not ok then return nil, fetch_failed(("%s %s"):format(side == "base" and "BASE" or "NEW", rest[i]), data) end
    sides[side], sides[side .. "_name"] = data, name
  end
  return sides
end

-- The service's comparison of the pairs it can compare, into d.service; nil or the exit
-- code of a failure. Asked for (--service), no pair to compare is an error.
local function add_service(d, sides, asked)
  local candidates = diff_service.candidates(sides.base, sides.new)
  if #candidates == 0 then
    if asked then
      return usage_error("--service: no pair of Future AGI executions of one run test to compare (the only "
        .. "service that compares executions itself)")
    end
    return nil
  end
  local ok, result = pcall(function()
    return diff_service.compare(candidates, require("evalua.futureagi").connect({}))
  end)
  if not ok then return fetch_failed("--service: Future AGI eval-summary-comparison", result) end
  d.service = result
end

function cli.main(argv)
  local o, rest = args.command("report diff", argv, OPTIONS, USAGE)
  if not o then return rest end
  if #rest ~= 2 then
    return usage_error(o.journal and "expected two journal runs: evalua report diff --journal PATH BASE NEW"
      or "expected two JSON reports: evalua report diff BASE NEW")
  end
  local format = o.format or "pretty"
  if not FORMATS[format] then return usage_error(("--format expects pretty, json or html, got '%s'"):format(format)) end
  if not o.journal and (o.timeout or o.allow_origin) then return usage_error("--timeout and --allow-origin need --journal") end
  local outputs = {}
  for _, path in ipairs(o.output or {}) do
    local f = EXTENSIONS[(path:match("%.(%w+)$") or ""):lower()]
    if not f then return usage_error("cannot tell the format of " .. path .. " (.json, .html, .txt)") end
    outputs[#outputs + 1] = { path = path, format = f }
  end
  local sides, code = load_sides(o, rest)
  if not sides then return code end
  local d = diff.compare(sides.base, sides.new, { base_name = sides.base_name, new_name = sides.new_name })
  if o.service or o.journal then
    code = add_service(d, sides, o.service)
    if code then return code end
  end
  for _, out in ipairs(outputs) do
    local ok, werr = pcall(function()
      local sink = report.file_sink(out.path)
      sink.write(render(out.format, d))
      sink.close()
    end)
    if not ok then
      io.stderr:write("evalua report diff: cannot write ", out.path, ": ", tostring(werr), "\n")
      return 3
    end
  end
  io.stdout:write(report.redact(render(format, d, format == "pretty" and require("evalua.progress").color(1))))
  return d.regressed and 1 or 0
end

return cli
