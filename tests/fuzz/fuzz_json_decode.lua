-- fuzz_json_decode: json.decode (core/json.c) against cjson.decode on any bytes.
--  * both accept: the same value; a decoded integer is the double cjson read, rounded
--    the same way, and integral; decoded arrays are marked, objects are not
--  * json.decode accepts: cjson accepts too (ours is never the more lenient one)
--  * only cjson accepts (it tolerates "1." and stops at a NUL byte): the document it read,
--    written out as standard JSON, must decode with json.decode to the same value
--  * json.decode refuses: "json.decode: ... at character N", N inside the text or just past it
--  * json.decoder (the same text in pieces: cut at every position for short inputs, at
--    sampled ones for long ones, and one byte at a time): the same value, or the same error
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

-- Whether two values decoded by json are the same: types, integer or float, array marks.
local function same(a, b)
  if type(a) ~= type(b) or math.type(a) ~= math.type(b) then return false end
  if type(a) ~= "table" then return a == b or (a ~= a and b ~= b) end
  if json.is_array(a) ~= json.is_array(b) then return false end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- json.decoder given the input in the pieces that start at the positions in cuts.
local function in_pieces(input, cuts)
  local d = json.decoder()
  local from = 1
  for _, at in ipairs(cuts) do
    d:feed(input:sub(from, at - 1))
    from = at
  end
  d:feed(input:sub(from))
  return d:finish()
end

local function check_pieces(input, ok, mine, cuts, how)
  local pok, pieces = pcall(in_pieces, input, cuts)
  if ok and not pok then error(("json.decoder (%s) refuses what json.decode reads: %s"):format(how, pieces), 0) end
  if not ok and pok then error(("json.decoder (%s) reads what json.decode refuses (%s)"):format(how, mine), 0) end
  if ok and not same(pieces, mine) then error(("json.decoder (%s) decodes another value"):format(how), 0) end
  if not ok and pieces ~= mine then
    error(("json.decoder (%s) fails otherwise: %s\n  json.decode: %s"):format(how, pieces, mine), 0)
  end
end

local function chunked(input, ok, mine)
  local n = #input
  local step = n <= 64 and 1 or n // 32
  for at = 1, n + 1, step do check_pieces(input, ok, mine, { at }, "cut at " .. at) end
  if n <= 512 then
    local every = {}
    for at = 2, n do every[#every + 1] = at end
    check_pieces(input, ok, mine, every, "one byte at a time")
  end
end

return function(input)
  local ok, mine = pcall(json.decode, input)
  chunked(input, ok, mine)
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
