-- The exit-code table of docs/testing.md, row by row: each situation, through each
-- command it names. A row of the table without a check here (or the other way round)
-- fails too, so the table and the behaviour cannot drift apart.
local h = require "tests.runner.harness"
local tap = require "tap"
local shell = require "shell"

local dir = h.tmpdir()
package.preload["evalua.fake"] = function() return dofile("tests/runner/fake_provider.lua") end
local fake = require "evalua.fake"

-- Exit code of `evalua <cmd> argv...` in this process, its stderr kept out of the TAP.
local function cli(cmd, argv)
  local saved = io.stderr
  io.stderr = assert(io.open(dir .. "/stderr", "w")) -- luacheck: ignore 122
  local ok, code = pcall(h.cli, cmd, argv)
  io.stderr:close()
  io.stderr = saved -- luacheck: ignore 122
  if not ok then error(code, 0) end
  return code
end

local function test(argv, report)
  local a = { "--journal", dir .. "/journal", "-r", "json:" .. dir .. "/" .. (report or "r") .. ".json" }
  table.move(argv, 1, #argv, #a + 1, a)
  return cli("test", a)
end

local function resume(lines, argv)
  h.write(dir .. "/rj", table.concat(lines, "\n") .. "\n")
  local a = { "--journal", dir .. "/rj" }
  table.move(argv or {}, 1, #(argv or {}), #a + 1, a)
  return cli("resume", a)
end

local started = h.started_line

local function merge(files, extra)
  return cli("report", h.merge_argv(files, extra, dir .. "/merged.json"))
end

-- Shard reports of `paths`, 2 ways; returns their files.
local function shards(paths, name)
  local files = {}
  for k = 1, 2 do
    local argv = { "--shard", k .. "/2" }
    table.move(paths, 1, #paths, #argv + 1, argv)
    test(argv, name .. k)
    files[k] = ("%s/%s%d.json"):format(dir, name, k)
  end
  return files
end

local function bin(args) return select(2, shell.sh("bin/evalua " .. args)) end

h.write(dir .. "/once_test.lua", "local n = 0\ntest('fails once', function() n = n + 1 expect(n):to_be_at_least(2) end)\n")
h.write(dir .. "/config_test.lua", "test('needs a variable', function() secret('EVALUA_EXIT_NO_SUCH') end)\n")
fake.resumable.FAIL = { cases = { { name = "c", status = "completed", metrics = { { name = "m", passed = false } } } } }
fake.resumable.NOV = { cases = { { name = "c", status = "completed", metrics = { { name = "m", score = 3 } } } } }

local rows = {
  ["every test passed"] = function()
    return { test({ "tests/runner/passing" }), resume({ started("OK") }), merge(shards({ "tests/runner/passing" }, "p")) },
      { 0, 0, 0 }
  end,
  ["a script ran to its end"] = function()
    return { bin("-e 'print(1)' >/dev/null"), bin("-e 'return 5' >/dev/null") }, { 0, 5 }
  end,
  ["a test passed on a retry"] = function()
    return { test({ "--retries", "1", dir .. "/once_test.lua" }),
             test({ "--retries", "1", "--fail-on-flaky", dir .. "/once_test.lua" }),
             merge(shards({ "--retries", "1", dir .. "/once_test.lua", "tests/runner/passing" }, "f")) }, { 0, 1, 0 }
  end,
  ["an expectation, check or threshold failed"] = function()
    return { test({ "tests/runner/failing" }), test({ "tests/runner/runs" }),
             merge(shards({ "tests/runner/failing" }, "x")) }, { 1, 1, 1 }
  end,
  ["a repeated test missed its pass rate"] = function()
    return { test({ "--repeat", "4", "--pass-rate", "100%", dir .. "/once_test.lua" }),
             merge(shards({ "--repeat", "4", "--pass-rate", "100%", dir .. "/once_test.lua" }, "rate")) }, { 1, 1 }
  end,
  ["a resumed run or one of its cases failed"] = function()
    return { resume({ started("FAIL") }) }, { 1 }
  end,
  ["a resumed run has no verdict"] = function()
    return { resume({ started("NOV") }), resume({ started("NOV") }, { "--accept-no-verdict" }) }, { 1, 0 }
  end,
  ["a bad option or argument"] = function()
    return { bin("--frobnicate 2>/dev/null"), test({ "--nope" }), cli("resume", { "--nope" }),
             cli("report", { "merge", dir .. "/r.json" }) }, { 2, 2, 2, 2 }
  end,
  ["a filter, tag or shard selects no test, or the files declare none"] = function()
    h.write(dir .. "/empty_test.lua", "-- none\n")
    return { test({ "--filter", "nothing like it", "tests/runner/passing" }), test({ "--tag", "none", "tests/runner/passing" }),
             test({ "--shard", "9/9", "tests/runner/passing" }), test({ dir .. "/empty_test.lua" }) }, { 2, 2, 2, 2 }
  end,
  ["a configuration error (an unset variable, missing credentials, a named resource the service says does not exist, "
    .. "a request it rejects as invalid)"] = function()
    -- secret() is the real host's: through bin/evalua
    return { bin("-e 'secret(\"EVALUA_EXIT_NO_SUCH\")' 2>/dev/null"),
             bin(("test --journal %s/journal %s/config_test.lua > /dev/null 2>&1"):format(dir, dir)) }, { 2, 2 }
  end,
  ["the journal places a run at another origin"] = function()
    fake.base_url = "http://127.0.0.1:8001"
    local code = resume({ started("AWAY", "http://127.0.0.1:8002") })
    fake.base_url = nil
    return { code }, { 2 }
  end,
  ["a shard missing, repeated or inconsistent"] = function()
    local s = shards({ "tests/runner/passing" }, "m")
    return { merge({ s[1] }), merge({ s[1], s[1] }), merge({ s[1] }, { "--allow-partial" }) }, { 2, 2, 0 }
  end,
  ["a Lua error, or a raise of any value"] = function()
    return { test({ "tests/runner/erroring" }), test({ "tests/runner/verdicts/raise_test.lua" }),
             bin("-e 'error()' 2>/dev/null") }, { 3, 3, 3 }
  end,
  ["a report that cannot be written"] = function()
    h.write(dir .. "/file", "")
    local bad = "json:" .. dir .. "/file/r.json"
    return { cli("test", { "--journal", dir .. "/journal", "-r", bad, "tests/runner/passing" }),
             resume({ started("OK2") }, { "-r", bad }),
             merge(shards({ "tests/runner/passing" }, "w")) == 0 and cli("report", { "merge", dir .. "/w1.json",
               dir .. "/w2.json", "-o", dir .. "/file/m.json" }) }, { 3, 3, 3 }
  end,
  ["the outside world failed (network, 5xx, 429, timeout after retries, a test past its timeout)"] = function()
    return { test({ "tests/runner/infra" }), test({ "tests/runner/timeout" }),
             bin("-e 'http.get(\"http://127.0.0.1:1/\", {retry = false})' 2>/dev/null") }, { 4, 4, 4 }
  end,
  ["a start was in flight when evalua stopped"] = function()
    return { resume({ '{"event":"starting","key":"start:T1","run":{"provider":"fake","target":"x"},"time":"t"}' }) }, { 4 }
  end,
  ["interrupted (Ctrl-C)"] = function()
    local j = dir .. "/ij"
    shell.sh(("( bin/evalua test --journal %s tests/runner/interrupt > /dev/null 2>&1 & echo $! > %s/ipid; wait $!; "
      .. "echo $? > %s/irc ) > /dev/null 2>&1 &"):format(j, dir, dir))
    for _ = 1, 200 do
      if (h.read(j) or ""):find('"started"', 1, true) then break end
      shell.sh("sleep 0.05")
    end
    shell.sh("kill -INT " .. h.read(dir .. "/ipid"):match("%d+"))
    local rc
    for _ = 1, 200 do
      rc = (h.read(dir .. "/irc") or ""):match("%d+")
      if rc then break end
      shell.sh("sleep 0.05")
    end
    return { tonumber(rc) }, { 130 }
  end,
}

-- The table's rows, as the docs list them.
local doc = assert(h.read("docs/testing.md"))
local table_text = doc:match("| situation | commands | outcome | exit |\n|[-|]+|\n(.-)\n\n")
local listed = {}
for situation in (table_text or ""):gmatch("| ([^|]+) |[^\n]*") do listed[#listed + 1] = situation end
tap.ok(#listed > 0, "docs/testing.md has the exit-code table")
local seen = {}
for _, situation in ipairs(listed) do
  local key = situation:gsub("`", "")
  seen[key] = true
  local check = rows[key]
  if tap.ok(check ~= nil, "a check for the row: " .. key) then
    local got, want = check()
    tap.is(table.concat(got, " "), table.concat(want, " "), key .. ": exit codes " .. table.concat(want, " "))
  end
end
for key in pairs(rows) do tap.ok(seen[key], "the docs list the checked row: " .. key) end

os.execute("rm -rf " .. dir)
tap.done()
