-- `evalua report diff BASE NEW`: what changed between two JSON reports (`evalua test -r
-- json:FILE`): tests and cases that regressed or were fixed, score deltas, new and
-- vanished cases, pass rates per metric. Exit code 1 when anything regressed, 0 when
-- nothing did, 2 on bad input, 3 when a report cannot be written.
local args = require "evalua.runner.args"
local baseline = require "evalua.runner.baseline"
local diff = require "evalua.report.diff"
local json = require "evalua.json"
local report = require "evalua.report"

local cli = {}

local OPTIONS = {
  { long = "--format", arg = "FORMAT", help = "what goes to stdout: pretty (default), json or html" },
  { long = "--output", short = "-o", arg = "FILE", many = true,
    help = "also write FILE, in the format of its extension (.json, .html, .txt; repeatable)" },
  { long = "--help", short = "-h", help = "show this help" },
}

local USAGE = [[
usage: evalua report diff BASE.json NEW.json [--format pretty|json|html] [-o FILE]...

Compares two JSON reports written by `evalua test -r json:FILE`: per test, case and
metric what regressed (passed, now not), what was fixed, score deltas, new and vanished
tests and cases, and the pass rate of every metric with its counts. Cases are matched by
a key per provider (docs/testing.md, "Comparing runs"); those without one are listed.
Latency p50/p95, tokens and cost are compared where cases report them (shown, not judged).
A baseline written by `evalua test --save-baseline` is a JSON report too.
Exit code: 1 anything regressed or vanished, or no case could be matched; 0 nothing
regressed; 2 bad input.

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
    return json.encode(d, { indent = 2, sort_keys = true }) .. "\n"
  elseif format == "html" then
    return require("evalua.report.diff_html").render(d)
  end
  return require("evalua.report.diff_pretty").render(d, { color = color })
end

function cli.main(argv)
  local o, rest = args.command("report diff", argv, OPTIONS, USAGE)
  if not o then return rest end
  if #rest ~= 2 then return usage_error("expected two JSON reports: evalua report diff BASE NEW") end
  local format = o.format or "pretty"
  if not FORMATS[format] then return usage_error(("--format expects pretty, json or html, got '%s'"):format(format)) end
  local outputs = {}
  for _, path in ipairs(o.output or {}) do
    local f = EXTENSIONS[(path:match("%.(%w+)$") or ""):lower()]
    if not f then return usage_error("cannot tell the format of " .. path .. " (.json, .html, .txt)") end
    outputs[#outputs + 1] = { path = path, format = f }
  end
  local base, err = load_report(rest[1])
  if not base then return usage_error(err) end
  local new
  new, err = load_report(rest[2])
  if not new then return usage_error(err) end
  if #base.tests == 0 then return usage_error(rest[1] .. ": BASE has no tests to compare against") end
  local d = diff.compare(base, new, { base_name = rest[1], new_name = rest[2] })
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
