-- fuzz_json_decode: json.decode (core/json.c) against cjson.decode on any bytes.
--  * both accept: the same value; a decoded integer is the double cjson read, rounded
--    the same way, and integral; decoded arrays are marked, objects are not
--  * json.decode accepts: cjson accepts too (ours is never the more lenient one)
--  * only cjson accepts (it tolerates "1." and stops at a NUL byte): the document it read,
--    written out as standard JSON, must decode with json.decode to the same value
--  * json.decode refuses: "json.decode: ... at character N", N inside the text or just past it
local json = require "evalua.json"
local cjson = require("cjson").new()
cjson.decode_invalid_numbers(false)
cjson.decode_max_depth(1000)

-- Where ours (a) and cjson's (b) differ, or nil.
local function diff(a, b, path)
  if type(a) == "number" and type(b) == "number" then
    if math.type(a) == "integer" then
      if a + 0.0 ~= b then return ("%s: integer %d, cjson %.17g"):format(path, a, b) end
    elseif a ~= b and not (a ~= a and b ~= b) then
      return ("%s: %.17g, cjson %.17g"):format(path, a, b)
    end
    return nil
  end
  if type(a) ~= type(b) then return ("%s: %s, cjson %s"):format(path, type(a), type(b)) end
  if type(a) ~= "table" then
    if a ~= b then return ("%s: %q, cjson %q"):format(path, tostring(a), tostring(b)) end
    return nil
  end
  local n = 0
  for k, x in pairs(a) do
    n = n + 1
    local d = diff(x, b[k], ("%s[%q]"):format(path, k))
    if d then return d end
  end
  for k in pairs(b) do
    if a[k] == nil then return ("%s: key %q missing"):format(path, k) end
  end
  if json.is_array(a) and n ~= #a then return path .. ": a marked array that is not a sequence" end
  if not json.is_array(a) and getmetatable(a) ~= nil then return path .. ": an object with a metatable" end
  return nil
end

return function(input)
  local ok, mine = pcall(json.decode, input)
  local cok, ref = pcall(cjson.decode, input)
  if not ok then
    local at = tostring(mine):match("^json%.decode: .* at character (%d+)")
    if not at or tonumber(at) < 1 or tonumber(at) > #input + 1 then
      error("unexpected decode error: " .. tostring(mine), 0)
    end
  end
  if ok and not cok then error(("json.decode accepts what cjson refuses (%s)"):format(ref), 0) end
  if ok then
    local d = diff(mine, ref, "$")
    if d then error("json.decode and cjson.decode differ at " .. d, 0) end
  elseif cok then
    local eok, text = pcall(json.encode, ref)
    if not eok then return end -- +-inf (a number past the double range) has no JSON form
    local rok, again = pcall(json.decode, text)
    if not rok then error(("json.decode refuses standard JSON: %s\n  text: %q"):format(again, text), 0) end
    local d = diff(again, ref, "$")
    if d then error(("json.decode and cjson.decode differ at %s\n  text: %q"):format(d, text), 0) end
  end
end
