-- Helpers for the runner and report tests: run `evalua test|report|resume` in this
-- process on the host double (or under bin/evalua, on the real host), temporary
-- directories, files.
package.path = "tests/runner/?.lua;tests/lua/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
local host = require "host"

-- These tests drive whole sessions on the host double's virtual clock (minutes of
-- simulated runs in milliseconds, a simulated Ctrl-C). Under bin/evalua, run the same
-- file with lua5.4 instead and pass its TAP through.
if host.real then
  local ok, _, code = os.execute(("LUA_PATH='tests/lua/?.lua;lua/?.lua;;' lua5.4 %q"):format(arg[0]))
  os.exit(ok and 0 or code or 1)
end

local shell = require "shell"

local harness = { host = host }

-- Exit code of `evalua <cmd> argv...`; its stdout goes to the file `stdout` (or nowhere).
function harness.cli(cmd, argv, stdout)
  local main = require("evalua.cli." .. cmd).main
  local saved, out = io.stdout, stdout and assert(io.open(stdout, "w")) or io.tmpfile()
  io.stdout = out -- luacheck: ignore 122
  local ok, code = pcall(host.run, main, argv)
  out:close()
  io.stdout = saved -- luacheck: ignore 122
  if not ok then error(code, 0) end
  return code
end

harness.tmpdir = shell.tmpdir
harness.read = shell.read
harness.write = shell.write

function harness.json(path)
  return require("cjson").decode((assert(harness.read(path), "no file " .. path)))
end

-- Shell command output and success (bounded by `timeout`).
function harness.sh(cmd, secs)
  local out, code = shell.sh(cmd, secs or 60)
  return out, code == 0
end

-- A journal line for a fake run `id` started (at `base`, when given): resume tests
-- write their journals by hand.
function harness.started_line(id, base)
  return ('{"event":"started","key":"fake:%s","run":{"provider":"fake","id":"%s"%s},"time":"t"}'):format(id, id,
    base and (',"base_url":"%s"'):format(base) or "")
end

-- The arguments of `evalua report merge FILES... EXTRA... -o OUT`.
function harness.merge_argv(files, extra, out)
  local argv = { "merge" }
  table.move(files, 1, #files, 2, argv)
  table.move(extra or {}, 1, #(extra or {}), #argv + 1, argv)
  argv[#argv + 1] = "-o"
  argv[#argv + 1] = out
  return argv
end

-- Entries of a JSON report by test name.
function harness.by_name(data)
  local t = {}
  for _, e in ipairs(data.tests) do t[e.name] = e end
  return t
end



-- The session of running `evalua test` on `paths` (in this process), as reporters
-- receive it: decoded from the JSON report.
function harness.session(paths)
  local dir = harness.tmpdir()
  local argv = { "-r", "json:" .. dir .. "/s.json", "--journal", dir .. "/journal" }
  for _, p in ipairs(paths) do argv[#argv + 1] = p end
  harness.cli("test", argv)
  local data = require("evalua.runner.session").decode(harness.read(dir .. "/s.json"), "s.json")
  os.execute("rm -rf " .. dir)
  return data
end
return harness
