-- Run Kapso test cases (one or more ids), wait for them, print their scores.
-- Kapso scores have no pass mark of their own: give --pass-score (e.g. 8 on its 0-10
-- scale) to turn scores into a verdict. Exit 0 when every run passed, 1 when not.
--   evalua run scripts/kapso.lua --case ca5e0000-... --case ca5e... --pass-score 8
-- Credentials: KAPSO_API_KEY; KAPSO_BASE_URL for another server.
local kapso = require "evalua.kapso"
local script = require "evalua.script"

local cases, rest = {}, { [0] = arg[0] }
-- --case may repeat: collect those, hand the rest to the flag parser.
do
  local i = 1
  while arg[i] do
    if arg[i] == "--case" then
      cases[#cases + 1] = arg[i + 1]
      i = i + 2
    else
      rest[#rest + 1] = arg[i]
      i = i + 1
    end
  end
end
local flags = script.flags(rest, {
  { "pass-score", number = true, meta = "N", help = "a run passes when its score is at least N" },
  { "wait", default = "10m", duration = true, meta = "DURATION", help = "how long to wait" },
  { "base-url", meta = "URL", help = "API base (default $KAPSO_BASE_URL or https://app.kapso.ai/api/v1)" },
}, "Run Kapso test cases (--case ID, repeatable) and print their scores.")
if #cases == 0 then
  io.stderr:write("kapso.lua: give at least one --case ID (see --help)\n")
  return 2
end

local client = kapso.connect { base_url = flags.base_url, pass_score = flags.pass_score }
local runs = task.all((function()
  local list = {}
  for i, id in ipairs(cases) do
    list[i] = function()
      local run = client:start(id)
      run:wait { timeout = flags.wait }
      return run:results()
    end
  end
  return list
end)())
local code = 0
for _, run in ipairs(runs) do
  code = math.max(code, script.report(run))
end
return code
