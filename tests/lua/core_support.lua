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

-- Turn the child's CHECK lines into tests; require exit code `want` and the END line.
local function verdict(label, out, rc, want, need_end, secs)
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
  if not t.ok(rc == want and (ended or not need_end),
      ("%s: the child %sexited %d"):format(label, need_end and "ran to its end and " or "", want)) then
    t.diag(("  exit code %s, ended %s, %.1fs; output:"):format(tostring(rc), tostring(ended), secs))
    t.diag(out:gsub("\n?$", ""):sub(-3000))
  end
end

-- A CPU-bound child may ignore SIGTERM (the bug some scenarios test): `timeout -k`
-- kills it for sure, and `exec` leaves no shell between them.
-- (support.signalled signals the child itself and kills it when it outlives its bound.)
local function command(path, opts, signalled)
  local env = {}
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. quote(v) end
  table.sort(env)
  return ("cd %s && %s CORE_TEST_BASE=%s %s exec %s %s/bin/evalua %s %s"):format(
    quote(opts.cwd or os.getenv("PWD") or "."), opts.prefix or "", quote(opts.base or ""), table.concat(env, " "),
    signalled and "" or ("timeout -k 2 %d"):format(opts.secs or 60),
    os.getenv("PWD") or ".", opts.args or "run", quote(path))
end
support.command = command

local function script(code)
  n = n + 1
  return support.write(("child%d.lua"):format(n), PRELUDE .. code .. "\nprint('END')\n")
end

--- support.child(label, code [, opts]) -> output, exit code, seconds (loop clock)
-- Runs `code` (with the prelude) as `bin/evalua run FILE`; opts.base is passed as BASE,
-- opts.env more environment variables, opts.cwd the directory it runs in, opts.prefix
-- shell commands run first (e.g. a ulimit),
-- opts.args replaces "run" (e.g. "test --timeout 2s -r json:F"), opts.secs bounds it
-- (default 60), opts.expect_code is the exit code required (0) and opts.no_end says the
-- child is not expected to reach its end. Every CHECK line becomes a test named
-- "label: name"; a crash is a failed test.
function support.child(label, code, opts)
  opts = opts or {}
  local started = task.now()
  local out, rc = shell.sh(command(script(code), opts), (opts.secs or 60) + 10)
  local secs = task.now() - started
  verdict(label, out, rc, opts.expect_code or 0, not opts.no_end, secs)
  return out, rc, secs
end

--- support.signalled(label, code, opts) -> output, exit code, seconds from the first signal to the exit
-- Starts the child in the background, waits until it printed a line "ready", waits
-- opts.pre seconds (0.2), sends each of opts.signals ({"INT"}) opts.gap (0.5) seconds
-- apart, and waits for it to exit (bounded by opts.secs, default 60: then killed, 124).
function support.signalled(label, code, opts)
  local path = script(code)
  local out = path .. ".out"
  local kills = {}
  for i, sig in ipairs(opts.signals or { "INT" }) do
    kills[#kills + 1] = (i > 1 and ("sleep %g; "):format(opts.gap or 0.5) or "") .. ("kill -%s $pid 2>/dev/null"):format(sig)
  end
  local sh = ([[%s > %s 2>&1 &
pid=$!
i=0
while ! grep -q '^ready' %s && [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do sleep 0.05; i=$((i+1)); done
grep -q '^ready' %s || echo NOTREADY
sleep %g
t0=$(date +%%s%%N)
%s
left=%d
while kill -0 $pid 2>/dev/null && [ $left -gt 0 ]; do sleep 0.05; left=$((left-1)); done
t1=$(date +%%s%%N)
kill -0 $pid 2>/dev/null && { kill -KILL $pid; wait $pid; echo "TOOK $(( (t1 - t0) / 1000000 ))"; exit 124; }
wait $pid
rc=$?
echo "TOOK $(( (t1 - t0) / 1000000 ))"
exit $rc]]):format(command(path, opts, true), quote(out), quote(out), quote(out), opts.pre or 0.2, table.concat(kills, "\n"),
    (opts.secs or 60) * 20)
  local took, rc = shell.sh(sh, (opts.secs or 60) + 60)
  local text = shell.read(out) or ""
  local ms = tonumber(took:match("TOOK (%d+)"))
  t.ok(not took:find("NOTREADY", 1, true), label .. ": the child said it was ready before it was signalled")
  verdict(label, text, rc, opts.expect_code or 130, false, (ms or -1) / 1000)
  return text, rc, ms and ms / 1000
end

--- support.cleanup(): remove the directory of child scripts (KEEP=1 keeps it)
function support.cleanup()
  if os.getenv("KEEP") then t.diag("child scripts kept in " .. dir) else os.execute("rm -rf " .. quote(dir)) end
end

return support
