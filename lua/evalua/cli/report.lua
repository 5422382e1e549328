-- `evalua report merge FILE... -o OUT`: one report from the JSON reports of CI shards,
-- in the format OUT's extension names (.json, .xml JUnit, .html, .tap). Thresholds are
-- judged again over all shards; the exit code follows the merged outcomes.
local args = require "evalua.runner.args"
local report = require "evalua.report"
local markup = require "evalua.report.markup"
local session = require "evalua.runner.session"
local shards = require "evalua.runner.shards"

local cli = {}

local OPTIONS = {
  { long = "--output", short = "-o", arg = "FILE", help = "merged report; format from the extension" },
  { long = "--allow-partial", help = "merge even when shards are missing, repeated or inconsistent "
      .. "(the report is marked partial)" },
  { long = "--help", short = "-h", help = "show this help" },
}

local USAGE = [[
usage: evalua report merge FILE.json... -o OUT.(json|xml|html|tap)

Merges the JSON reports of `evalua test --shard K/N -r json:FILE` runs into one report,
as if the tests had run in one process. Every shard K/N of one plan must be there once
(same N, same test list, same evalua version), else exit 2 naming what is missing,
unless --allow-partial. Exit code as for `evalua test`.

`evalua report diff BASE NEW` compares two JSON reports or baselines (or, with
--journal, two journalled runs): what regressed, was fixed, is new or vanished; exit 1
when anything regressed (see evalua report diff --help).

options:
]]

local FORMATS = { json = "json", xml = "junit", html = "html", htm = "html", tap = "tap" }

local function usage_error(msg)
  io.stderr:write("evalua report: ", msg, "\n")
  return 2
end

function cli.main(argv)
  if argv[1] == "diff" then return require("evalua.cli.diff").main(table.move(argv, 2, #argv, 1, {})) end
  local o, rest = args.command("report", argv, OPTIONS, USAGE)
  if not o then return rest end
  if rest[1] ~= "merge" then return usage_error("expected 'merge' (evalua report merge FILE... -o OUT)") end
  if #rest < 2 then return usage_error("merge needs at least one JSON report") end
  if not o.output then return usage_error("merge needs -o OUT") end
  local format = FORMATS[(o.output:match("%.(%w+)$") or ""):lower()]
  if not format then return usage_error("cannot tell the format of " .. o.output .. " (.json, .xml, .html, .tap)") end
  local reports = {}
  for i = 2, #rest do
    local text, err = session.read(rest[i])
    if not text then return usage_error("cannot read " .. rest[i] .. ": " .. tostring(err)) end
    local ok, data = pcall(session.decode, text, rest[i])
    if not ok then return usage_error(tostring(data)) end
    reports[#reports + 1] = data
  end
  local problems = shards.problems(reports, table.move(rest, 2, #rest, 1, {}))
  for _, p in ipairs(problems) do
    io.stderr:write("evalua report: ", markup.line(p), o.allow_partial and " (merged anyway: --allow-partial)" or "", "\n")
  end
  if #problems > 0 and not o.allow_partial then
    return usage_error("not merged: the reports are not one whole session (--allow-partial merges them anyway)")
  end
  local merged = session.merge(reports)
  if #problems > 0 then merged.partial = problems end
  local ok, err = pcall(report.write, format, merged, report.file_sink(o.output))
  if not ok then
    io.stderr:write("evalua report: ", tostring(err), "\n")
    return 3
  end
  local s = merged.summary
  io.stderr:write(("evalua report: merged %d reports into %s: %d tests, %d passed, %d failed, %d error, "
    .. "%d infra, %d skipped\n"):format(#reports, o.output, s.total, s.passed, s.failed, s.error, s.infra, s.skipped))
  return merged.exit_code
end

return cli
