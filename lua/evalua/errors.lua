-- Structured errors: one shape for transport, provider and timeout failures, so that
-- `pcall` callers can inspect fields and the CLI can choose an exit code from `kind`.
-- Secrets are masked as the error is made (before anyone cuts, escapes or cases its text).
local redact = require "evalua.redact"

local errors = {}

local Error = {}
Error.__index = Error
Error.__name = "evalua.error"

-- Kinds that mean the outside world failed (exit code 4), not the script.
errors.infra_kinds = {
  timeout = true, connect = true, tls = true, dns = true,
  http = true, auth = true, protocol = true,
}

-- Kinds that mean the user's configuration or command line is wrong (exit code 2).
errors.usage_kinds = { config = true, usage = true }

function Error.__tostring(e)
  local parts = { (e.kind or "error") .. " error" }
  local where = e.method and e.url and (e.method .. " " .. e.url) or e.url
  if where then parts[#parts + 1] = where end
  if e.status then parts[#parts + 1] = "HTTP " .. tostring(e.status) end
  local text = table.concat(parts, ": ")
  local msg = e.message or "(no message)"
  if e.vendor_code and not tostring(msg):find(tostring(e.vendor_code), 1, true) then
    msg = msg .. " [" .. tostring(e.vendor_code) .. "]"
  end
  text = text .. ": " .. msg
  if e.attempts and e.attempts > 1 then
    text = text .. (" (after %d attempts)"):format(e.attempts)
  end
  -- Fields may have been set after the error was made.
  return redact.redact(text)
end

-- Build an error object without raising it. Its text fields (message, vendor_message,
-- url, a body...) are masked: a vendor may echo the credentials it was sent.
function errors.new(fields)
  assert(type(fields) == "table", "errors.new expects a table")
  for k, v in pairs(fields) do
    if type(v) == "string" then
      fields[k] = k == "url" and redact.redact_url(v) or redact.redact(v)
    end
  end
  return setmetatable(fields, Error)
end

-- Raise a structured error; `level` works as in `error` (default 2: the caller's caller
-- is blamed in tracebacks, the object itself carries no position).
function errors.raise(fields, level)
  error(errors.new(fields), level or 2)
end

-- Whether `err` is a structured error, optionally of the given kind.
function errors.is(err, kind)
  return getmetatable(err) == Error and (kind == nil or err.kind == kind)
end

-- Whether a chunk source belongs to evalua itself (embedded or loaded from lua/).
local function internal(source)
  return source:find("lua/evalua/", 1, true) ~= nil or source == "=[C]"
end
errors.internal_source = internal

--- Only the user's frames of a traceback: evalua's own code and C frames are left
-- out, so the first line shown is the user's. Returns nil when none is left.
function errors.user_traceback(tb)
  if not tb then return nil end
  local out = {}
  for line in tb:gmatch("[^\n]+") do
    local src = line:match("^%s*(.-):%d*:? in ")
    if src and src ~= "[C]" and not internal("@" .. src) and not src:find("^%(%.%.%.tail") then
      out[#out + 1] = line
    end
  end
  if #out == 0 then return nil end
  return "stack traceback:\n" .. table.concat(out, "\n")
end

--- The first "file:line" of a traceback that is the user's, or nil.
function errors.first_user_frame(tb)
  for line in (tb or ""):gmatch("[^\n]+") do
    local where = line:match("^%s*([^%s:][^:]*:%d+):")
    if where and not internal("@" .. where) then return where end
  end
end

--- errors.where() -> "file:line: " of the first caller outside evalua, or ""
function errors.where()
  for level = 3, 60 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if not internal(info.source) and info.currentline > 0 then
      return ("%s:%d: "):format(info.short_src, info.currentline)
    end
  end
  return ""
end

--- errors.argerror(n, fname, msg): "bad argument #n to 'fname' (msg)" blamed on the
-- user's line, however deep inside evalua the check happens.
function errors.argerror(n, fname, msg)
  error(("%sbad argument #%d to '%s' (%s)"):format(errors.where(), n, fname, msg), 0)
end

errors.Error = Error
return errors
