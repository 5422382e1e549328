--- check: argument checks shared by the host modules, each raising a bad-argument error
-- that names the user's function and line (errors.argerror), never evalua's internals.
local duration = require "evalua.duration"
local errors = require "evalua.errors"

local check = {}

--- check.duration(v, argn, fname [, what]) -> seconds
function check.duration(v, argn, fname, what)
  local secs, why = duration.parse(v)
  if secs then return secs end
  errors.argerror(argn, fname, what and (what .. ": " .. why) or why)
end

--- check.count(v, argn, fname, what [, min]) -> an integer >= min (default 1)
function check.count(v, argn, fname, what, min)
  min = min or 1
  if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) or v < min then
    errors.argerror(argn, fname, ("%s must be a whole number >= %d, got %s"):format(what, min,
      type(v) == "string" and ("'" .. v .. "'") or tostring(v)))
  end
  return math.tointeger(v)
end

--- check.number(v, argn, fname, what, lo, hi) -> a number within [lo, hi]
function check.number(v, argn, fname, what, lo, hi)
  if type(v) ~= "number" or v ~= v or (lo and v < lo) or (hi and v > hi) then
    local range = lo and hi and (" between %g and %g"):format(lo, hi) or lo and (" >= %g"):format(lo) or ""
    errors.argerror(argn, fname, ("%s must be a number%s, got %s"):format(what, range,
      type(v) == "string" and ("'" .. v .. "'") or tostring(v)))
  end
  return v
end

return check
