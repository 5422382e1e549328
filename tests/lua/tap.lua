-- Minimal TAP producer for evalua's own Lua tests (run by `prove`).
-- Works under plain lua5.4 and under bin/evalua, so pure-Lua modules can be tested either way.
local tap = {}

local count, failed = 0, 0

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

local function diag(msg)
  for line in (tostring(msg) .. "\n"):gmatch("(.-)\n") do
    io.stdout:write("# ", line, "\n")
  end
end
tap.diag = diag

function tap.ok(cond, name)
  count = count + 1
  if not cond then failed = failed + 1 end
  io.stdout:write(cond and "ok " or "not ok ", count, " - ", name or "", "\n")
  if not cond then
    local info = debug.getinfo(3, "Sl") or debug.getinfo(2, "Sl")
    diag(("  at %s:%d"):format(info.short_src, info.currentline))
  end
  io.stdout:flush()
  return cond
end

local function deep_equal(a, b, path)
  if type(a) ~= type(b) then return false, path end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path
  end
  for k, v in pairs(a) do
    local same, where = deep_equal(v, b[k], path .. "." .. tostring(k))
    if not same then return false, where end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) end
  end
  return true
end

function tap.is(got, expected, name)
  local good = tap.ok(got == expected, name)
  if not good then diag(("  got:      %s\n  expected: %s"):format(describe(got), describe(expected))) end
  return good
end

function tap.is_deeply(got, expected, name)
  local same, where = deep_equal(got, expected, "")
  local good = tap.ok(same, name)
  if not good then diag("  tables differ at " .. (where ~= "" and where or "(root)")) end
  return good
end

function tap.like(got, pattern, name)
  local good = tap.ok(type(got) == "string" and got:find(pattern) ~= nil, name)
  if not good then diag(("  %s\n  does not match %q"):format(describe(got), pattern)) end
  return good
end

-- raises(fn, pattern, name): fn must raise an error whose tostring matches pattern.
-- Returns the error value so the caller can inspect its fields.
function tap.raises(fn, pattern, name)
  local ok, err = pcall(fn)
  if ok then
    tap.ok(false, name)
    diag("  expected an error, none was raised")
    return nil
  end
  return tap.like(tostring(err), pattern, name) and err or err
end

function tap.done()
  io.stdout:write("1..", count, "\n")
  io.stdout:flush()
  if failed > 0 then os.exit(1) end
end

return tap
