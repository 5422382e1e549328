--- inspect: values as readable text (the REPL's printer): tables as indented
-- JSON-like text with sorted keys, cycles shown as <cycle>, long arrays shortened.
local redact = require("evalua.redact").redact

local inspect = {}

local MAX_ITEMS = 200

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function scalar(v)
  if type(v) == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
  if type(v) == "userdata" and tostring(v) == "userdata: (nil)" then return "null" end
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 1e15 then return ("%.1f"):format(v) end
  return tostring(v)
end

local function render(v, indent, seen, out)
  if type(v) ~= "table" then out[#out + 1] = scalar(v); return end
  local mt = getmetatable(v)
  if mt and mt.__tostring and not mt.__inspect_fields then out[#out + 1] = tostring(v); return end
  if seen[v] then out[#out + 1] = "<cycle>"; return end
  seen[v] = true
  local keys = sorted_keys(v)
  if #keys == 0 then out[#out + 1] = "{}"; seen[v] = nil; return end
  local n = #v
  local pad = ("  "):rep(indent + 1)
  out[#out + 1] = "{\n"
  local shown = 0
  for _, k in ipairs(keys) do
    shown = shown + 1
    if shown > MAX_ITEMS then
      out[#out + 1] = pad .. ("... (%d more)\n"):format(#keys - MAX_ITEMS)
      break
    end
    out[#out + 1] = pad
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      out[#out + 1] = is_identifier(k) and k or ("[" .. scalar(k) .. "]")
      out[#out + 1] = " = "
    end
    render(v[k], indent + 1, seen, out)
    out[#out + 1] = ",\n"
  end
  out[#out + 1] = ("  "):rep(indent) .. "}"
  seen[v] = nil
end

--- inspect(value) -> string, with secrets masked like everything evalua prints
function inspect.inspect(v)
  local out = {}
  render(v, 0, {}, out)
  return redact(table.concat(out))
end

return setmetatable(inspect, { __call = function(_, v) return inspect.inspect(v) end })
