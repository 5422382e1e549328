-- Shared by the core_*_test.lua files (issue 9): run a scenario in a child bin/evalua,
-- so that a crash (a segfault, a sanitizer report, a hang) fails the scenario's tests
-- instead of killing the test file.
--
-- The child's code sees a global `check(cond, name [, detail])` that prints one line
-- the parent turns into a TAP test, and `BASE` (the sandbox URL the parent passed, if
-- any). The child prints "END" when it got to its end; the parent checks that too.
local t = require "tap"
local shell = require "shell"

local support = {}

local dir = shell.sh("mktemp -d"):gsub("%s+$", "")
support.dir = dir
local n = 0

local PRELUDE = [[
BASE = os.getenv("CORE_TEST_BASE")
function check(cond, name, detail)
  io.stdout:write("CHECK ", cond and "1" or "0", " ", name, "\n")
  if not cond and detail ~= nil then
    for line in (tostring(detail) .. "\n"):gmatch("(.-)\n") do io.stdout:write("DETAIL ", line, "\n") end
  end
  io.stdout:flush()
end
]]

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- support.write(name, text) -> path of a file in this test's directory
function support.write(name, text)
  local path = dir .. "/" .. name
  shell.write(path, text)
  return path
end

--- support.child(label, code [, opts]) -> output, exit code, seconds (wall clock)
-- Runs `code` (with the prelude) as `bin/evalua run FILE`; opts.base is passed as BASE,
-- opts.args are extra command-line words before the file (e.g. "test --timeout 2s"),
-- opts.secs bounds it (default 60), opts.expect_code is the exit code required (0).
-- Every CHECK line becomes a test named "label: name"; a crash is a failed test.
function support.child(label, code, opts)
  opts = opts or {}
  n = n + 1
  local path = support.write(("child%d.lua"):format(n), PRELUDE .. code .. "\nprint('END')\n")
  local cmd = ("cd %s && CORE_TEST_BASE=%s %s/bin/evalua %s %s"):format(quote(opts.cwd or os.getenv("PWD") or "."),
    quote(opts.base or ""), os.getenv("PWD") or ".", opts.args or "run", quote(path))
  local started = task.now()
  local out, rc = shell.sh(cmd, opts.secs or 60)
  local secs = task.now() - started
  local ended = false
  local lines = {}
  for line in out:gmatch("[^\n]*") do lines[#lines + 1] = line end
  for i, line in ipairs(lines) do
    local ok, name = line:match("^CHECK ([01]) (.*)$")
    if ok then
      if not t.ok(ok == "1", label .. ": " .. name) then
        for j = i + 1, #lines do
          local d = lines[j]:match("^DETAIL (.*)$")
          if not d then break end
          t.diag("  " .. d)
        end
      end
    elseif line == "END" then
      ended = true
    end
  end
  local want = opts.expect_code or 0
  if not t.ok(rc == want and (ended or opts.no_end), ("%s: the child ran to its end and exited %d"):format(label, want)) then
    t.diag(("  exit code %s, ended %s, %.1fs; output:"):format(tostring(rc), tostring(ended), secs))
    t.diag(out:gsub("\n?$", ""):sub(-3000))
  end
  return out, rc, secs
end

--- support.cleanup(): remove the directory of child scripts (KEEP=1 keeps it)
function support.cleanup()
  if os.getenv("KEEP") then t.diag("child scripts kept in " .. dir) else os.execute("rm -rf " .. quote(dir)) end
end

return support
