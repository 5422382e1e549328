-- bin/evalua test end to end against the sandbox: exit codes through the real host,
-- a run killed with kill -9 resumed without loss, Ctrl-C writes reports and says how to
-- resume. Skipped when bin/evalua is not built.
local h = require "tests.runner.harness"
local tap = require "tap"

local f = io.open("bin/evalua", "r")
if not f then
  tap.diag("bin/evalua not built: end-to-end checks skipped")
  tap.ok(true, "skipped")
  tap.done()
  return
end
f:close()

local dir = h.tmpdir()

-- exit codes through the real host
for _, c in ipairs({ { "passing", 0 }, { "failing", 1 }, { "erroring", 3 }, { "infra", 4 }, { "skipped", 0 } }) do
  local _, ok = h.sh(("bin/evalua test -r json:%s/r.json --journal %s/j tests/runner/%s"):format(dir, dir, c[1]))
  local code = h.json(dir .. "/r.json").exit_code
  tap.is(code, c[2], ("bin/evalua test exits %d for %s"):format(c[2], c[1]))
  tap.is(ok, c[2] == 0, "and the process exit status agrees")
end
local _, usage_ok = h.sh("bin/evalua test --jobs 0 tests/runner/passing; test $? -eq 2")
tap.ok(usage_ok, "usage errors exit 2")

-- the sandbox, with runs that last 4 seconds
h.sh(("python3 tests/sandbox/server.py --exit-with-parent > %s/url 2>/dev/null & echo $! > %s/pid"):format(dir, dir))
local base
for _ = 1, 200 do
  base = (h.read(dir .. "/url") or ""):match("^(%S+)")
  if base then break end
  os.execute("sleep 0.05")
end
local server_pid = h.read(dir .. "/pid"):match("%d+")
tap.ok(base ~= nil, "sandbox started")
h.sh(("curl -s -X POST %s/_control/config -d '{\"run_seconds\": 4}'"):format(base))

-- Everything that needs the sandbox; it is stopped afterwards even when this fails.
local function with_sandbox()
  local env = ("SF_MY_DOMAIN=%s/sf SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret"):format(base)
  h.write(dir .. "/remote_test.lua", [[
  local agentforce = require "evalua.agentforce"
  test("order support regression", function()
    local run = agentforce.connect({}):start("Order_Support_All_Pass"):wait({ timeout = "60s" })
    expect(run):to_be_completed()
    expect(run):to_pass()
  end)
  ]])

  -- Start `bin/evalua ...` in the background; wait until the journal records a run.
  local function start_and_wait_for_run(args, journal)
    os.remove(dir .. "/rc")
    os.remove(dir .. "/evalua.pid")
    h.sh(("cd %s && ( env %s %s/bin/evalua %s > out 2> err & echo $! > evalua.pid; wait $!; echo $? > rc ) >/dev/null 2>&1 &"):format(
      dir, env, os.getenv("PWD"), args))
    for _ = 1, 100 do
      if (h.read(dir .. "/evalua.pid") or ""):match("%d") then break end
      os.execute("sleep 0.05")
    end
    local pid = h.read(dir .. "/evalua.pid"):match("%d+")
    for _ = 1, 200 do
      if (h.read(journal) or ""):find('"started"', 1, true) then break end
      os.execute("sleep 0.05")
    end
    return pid
  end

  -- kill -9 while the run is in flight, then resume
  local journal = dir .. "/kill.journal"
  local pid = start_and_wait_for_run("test --journal " .. journal .. " remote_test.lua", journal)
  os.execute("kill -9 " .. pid)
  local pending = require("evalua.journal").unfinished(journal)
  tap.is(#pending, 1, "the killed run is in the journal, unfinished")
  tap.like(h.read(journal), "^{", "journalled before the test waited on it")
  tap.ok(not (h.read(journal) or ""):find("sandbox-client-secret", 1, true), "no secret in the journal")
  local out, ok = h.sh(("cd %s && %s %s/bin/evalua resume --journal %s -r json:%s/resumed.json"):format(
    dir, env, os.getenv("PWD"), journal, dir), 90)
  tap.ok(ok, "evalua resume waits for it and exits 0")
  if not ok then tap.diag(out) end
  local resumed = h.json(dir .. "/resumed.json")
  tap.is(resumed.tests[1].runs[1].id, pending[1] and pending[1].run.id, "the resumed report holds the killed run")
  tap.is(resumed.tests[1].runs[1].status, "completed", "which completed")
  tap.is(#resumed.tests[1].runs[1].cases, 3, "with every case")
  tap.is(#require("evalua.journal").unfinished(journal), 0, "nothing unfinished is left")

  -- The exit status of the background evalua, once it has ended.
  local function exit_status()
    for _ = 1, 200 do
      local rc = (h.read(dir .. "/rc") or ""):match("%d+")
      if rc then return tonumber(rc) end
      os.execute("sleep 0.05")
    end
  end

  -- Ctrl-C: exit 130, reports written, a resume hint, the remote run left alone
  journal = dir .. "/int.journal"
  pid = start_and_wait_for_run("test -r json:int.json --journal " .. journal .. " remote_test.lua", journal)
  os.execute("kill -INT " .. pid)
  tap.is(exit_status(), 130, "Ctrl-C ends evalua promptly with 130")
  local int = h.json(dir .. "/int.json")
  tap.ok(int.interrupted, "the report of what finished is written and says interrupted")
  tap.like(h.read(dir .. "/err"), "evalua resume %-%-journal", "stderr says how to resume")
  tap.is(#require("evalua.journal").unfinished(journal), 1, "the run was left running remotely")
  out = h.sh(("curl -s '%s/_control/requests?since=0'"):format(base))
  tap.like(out, "/einstein/ai%-evaluations/runs", "the request log is readable")
  tap.ok(not out:find("/cancel", 1, true), "and the run was not cancelled")

  -- --cancel-on-interrupt: the remote run is cancelled too
  journal = dir .. "/cancel.journal"
  pid = start_and_wait_for_run("test --cancel-on-interrupt -r json:c.json --journal " .. journal .. " remote_test.lua",
    journal)
  os.execute("kill -INT " .. pid)
  tap.is(exit_status(), 130, "with --cancel-on-interrupt, Ctrl-C still exits 130")
  out = h.sh(("curl -s '%s/_control/requests?since=0'"):format(base))
  tap.ok(out:find("/cancel", 1, true) ~= nil, "and the remote run is cancelled")
  tap.like(h.read(dir .. "/err"), "cancelled agentforce:", "saying so")
  for _ = 1, 200 do -- (the rc file may still hold the previous run's status)
    if (h.read(journal) or ""):find('"cancelled"', 1, true) then break end
    os.execute("sleep 0.05")
  end
  local jl = require("evalua.journal").read(journal)
  tap.ok(#jl > 0 and jl[#jl].cancelled and #require("evalua.journal").unfinished(journal) == 0,
    "a cancel the service confirmed is journalled: resume will not report it as a failure")

end

local ran, err = pcall(with_sandbox)
os.execute("kill " .. server_pid)
if not ran then error(err, 0) end
if os.getenv("KEEP") then tap.diag(dir) else os.execute("rm -rf " .. dir) end
tap.done()
