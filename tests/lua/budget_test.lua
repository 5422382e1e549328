-- `evalua test --max-runs N` against the sandbox: the start beyond the budget is refused
-- before anything is sent, the test is skipped with the reason, later tests do not start,
-- the session exits 1 (also in the JSON report); --on-budget=cancel stops the tests
-- still running and cancels their runs; a budget never reached changes nothing.
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"
local json = require "cjson"

local dir = shell.tmpdir()

local base = sandbox.start()
local ok, err = pcall(function()
  sandbox.control("config", { run_seconds = 2 })
  local envs = ("SF_MY_DOMAIN=%s/sf SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret "
    .. "EVALUA_JOURNAL=%s/journal "):format(base, dir)
  shell.write(dir .. "/suite_test.lua", [[
local agentforce = require "evalua.agentforce"
local sf = agentforce.connect {}
for i = 1, 3 do
  test("run " .. i, function()
    if i == 3 then task.sleep(tonumber(os.getenv("LATE_START") or "0")) end
    local run = sf:start("Order_Support_All_Pass"):wait { timeout = "60s" }
    expect(run):to_be_completed()
  end)
end
test("no run needed", function() expect(1):to_be(1) end)
]])
  local function starts() return sandbox.posts("/ai%-evaluations/runs$") end
  local function suite(opts, extra_env, seconds)
    os.remove(dir .. "/journal")
    sandbox.control("reset", {})
    sandbox.control("config", { run_seconds = seconds or 2 })
    os.remove(dir .. "/r.json")
    local out, code = shell.sh(("%s%s bin/evalua test %s -r json:%s/r.json %s/suite_test.lua"):format(
      envs, extra_env or "", opts, dir, dir), 120)
    local decoded, data = pcall(json.decode, shell.read(dir .. "/r.json") or "")
    if not decoded then
      t.diag(("no JSON report from `evalua test %s` (exit %s):\n%s"):format(opts, tostring(code), out))
      data = {}
    end
    return out, code, data
  end
  local function by_name(data)
    local out = {}
    for _, e in ipairs(data.tests or {}) do out[e.name] = e end
    return out
  end

  local out, code, data = suite("--jobs 1 --max-runs 2")
  local tests = by_name(data)
  t.is(code, 1, "the budget stopped the suite: exit 1")
  t.is(data.exit_code, 1, "and the JSON report says so")
  t.ok(tests["run 1"].outcome == "passed" and tests["run 2"].outcome == "passed", "the first two runs ran")
  t.is(tests["run 3"].outcome, "skipped", "the test that would start a third is skipped")
  t.like(tests["run 3"].skip_reason or "", "budget of 2 runs reached %(%-%-max%-runs%)", "with the reason")
  t.is(tests["no run needed"].outcome, "skipped", "later tests do not start")
  t.is(starts(), 2, "the refused start was never sent")
  local journal = shell.read(dir .. "/journal") or ""
  local _, starting = journal:gsub('"event":"starting"', "")
  t.is(starting, 2, "and left no trace in the journal")
  t.like(out, "budget of 2 runs reached", "the terminal report names the reason")

  out, code, data = suite("--jobs 1 --max-runs 4")
  if code ~= 0 then t.diag(out) end
  t.ok(code == 0 and data.exit_code == 0 and not data.budget, "a budget not reached changes nothing")

  out, code, data = suite("--jobs 3 --max-runs 2 --on-budget=cancel", "LATE_START=2", 20)
  tests = by_name(data)
  if not t.is(code, 1, "--on-budget=cancel: exit 1") then t.diag(out) end
  t.ok(tests["run 1"].outcome == "skipped" and tests["run 2"].outcome == "skipped",
    "the tests still running are stopped (skipped)")
  t.is(sandbox.posts("cancel"), 2, "and their runs cancelled on the service")

  out, code = shell.sh("bin/evalua test --max-runs 0 " .. dir)
  t.ok(code == 2 and out:find("--max-runs expects a positive whole number", 1, true), "--max-runs 0: usage error")
  out, code = shell.sh("bin/evalua test --on-budget=later " .. dir)
  t.ok(code == 2 and out:find("--on-budget expects finish or cancel", 1, true), "bad --on-budget: usage error")
end)
sandbox.stop()
if not ok then t.ok(false, "budget checks: " .. tostring(err)) end
os.execute("rm -rf " .. dir)
t.done()
