-- Start and stop the sandbox server (tests/sandbox/server.py) from a Lua test.
-- The shell prints its own pid, then execs python in its place: that pid is the
-- server's, so stop() can signal it; --exit-with-parent covers a crashed test.
local sandbox = {}

local proc, pid, base

--- sandbox.start([extra_args]) -> base URL
function sandbox.start(extra)
  assert(proc == nil, "sandbox already running")
  local cmd = "echo $$; exec python3 tests/sandbox/server.py --exit-with-parent --seed 42 " .. (extra or "")
  proc = assert(io.popen(cmd, "r"))
  -- If the test dies before stop(), closing the pipe at exit would wait for the server
  -- forever. This guard, created after the pipe, is finalized first and kills it.
  sandbox.guard = setmetatable({}, { __gc = function() sandbox.stop() end })
  pid = proc:read("l")
  base = proc:read("l")
  if not (pid and base and base:match("^http://127%.0%.0%.1:%d+$")) then
    error("sandbox did not start (pid " .. tostring(pid) .. ", first line " .. tostring(base) .. ")")
  end
  return base
end

--- sandbox.control(path, body) -> decoded reply of a control call (POST when body given)
function sandbox.control(path, body)
  local res = evalua.http.request {
    method = body and "POST" or "GET", url = base .. "/_control/" .. path, json = body, retry = false,
  }
  assert(res.status == 200, "sandbox control " .. path .. " answered " .. res.status .. ": " .. res.body)
  return res:json()
end

--- sandbox.posts(pattern) -> how many POST requests the sandbox saw whose path matches
-- the Lua pattern
function sandbox.posts(pattern)
  local n = 0
  for _, r in ipairs(sandbox.control("requests").requests) do
    if r.method == "POST" and r.path:find(pattern) then n = n + 1 end
  end
  return n
end

function sandbox.stop()
  if not proc then return end
  os.execute("kill " .. pid .. " 2>/dev/null")
  proc:close()
  proc, pid, base, sandbox.guard = nil, nil, nil, nil
end

return sandbox
