-- Shell and file helpers shared by the tests that drive bin/evalua as a user would.
local shell = {}

--- shell.sh(cmd [, secs]) -> output (stdout and stderr), exit code; bounded by `secs`
-- (default 120): a hung command is killed and reported as exit code 124.
function shell.sh(cmd, secs)
  local quoted = cmd:gsub("'", "'\\''")
  local p = io.popen(("timeout %d sh -c '%s' 2>&1"):format(secs or 120, quoted), "r")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

--- shell.tmpdir() -> a new temporary directory (under $TMPDIR)
function shell.tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

--- shell.read(path) -> the file's content, or nil
function shell.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- shell.write(path, text)
function shell.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

--- shell.sandbox_env(base, dir) -> "VAR=value ..." prefix for a command: the sandbox's
-- Salesforce and Future AGI credentials at `base`, and a journal in `dir`.
function shell.sandbox_env(base, dir)
  return ("SF_MY_DOMAIN=%s/sf SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret "
    .. "FI_BASE_URL=%s/fi FI_API_KEY=fi-test-key FI_SECRET_KEY=fi-test-secret EVALUA_JOURNAL=%s/journal ")
    :format(base, base, dir)
end

return shell
