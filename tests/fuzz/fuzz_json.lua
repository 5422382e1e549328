-- fuzz_json: any bytes to json.decode; whatever decodes must encode, and read back
-- as the same value, compact and indented, with or without sorted keys.
local json = require "evalua.json"

-- Numbers past the double range decode to +-inf, which JSON cannot write back.
local function has_infinity(v)
  if type(v) == "number" then return v == math.huge or v == -math.huge end
  if type(v) == "table" then
    for _, x in pairs(v) do
      if has_infinity(x) then return true end
    end
  end
  return false
end

-- Where a and b differ, as `$["key"][2]: what`, or nil when they are equal.
local function diff(a, b, path)
  if type(a) ~= type(b) then return ("%s: %s became %s"):format(path, type(a), type(b)) end
  if type(a) ~= "table" then
    if a ~= b then return ("%s: %q became %q"):format(path, tostring(a), tostring(b)) end
    return nil
  end
  for k, x in pairs(a) do
    local d = diff(x, b[k], ("%s[%q]"):format(path, k))
    if d then return d end
  end
  for k in pairs(b) do
    if a[k] == nil then return ("%s: new key %q"):format(path, k) end
  end
  return nil
end

local function round_trip(v, opts)
  local text = json.encode(v, opts)
  local ok, back = pcall(json.decode, text)
  if not ok then error(("json.encode wrote what json.decode refuses: %s\n  text: %q"):format(back, text), 0) end
  local d = diff(v, back, "$")
  if d then error(("json.decode(json.encode(v)) differs from v at %s\n  text: %q"):format(d, text), 0) end
  return text, back
end

return function(input)
  local ok, v = pcall(json.decode, input)
  if not ok then
    if not tostring(v):find("^json%.decode: ") then error("unexpected decode error: " .. tostring(v), 0) end
    return
  end
  if has_infinity(v) then
    if pcall(json.encode, v) then error("json.encode wrote an infinity", 0) end
    return
  end
  local text, back = round_trip(v, { sort_keys = true })
  local again = json.encode(back, { sort_keys = true })
  if again ~= text then error(("sorted encoding not stable:\n  %q\n  %q"):format(text, again), 0) end
  round_trip(v, { sort_keys = true, indent = 2 })
  round_trip(v)
end
