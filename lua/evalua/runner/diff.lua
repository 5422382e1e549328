-- Deep equality with the path to the first difference, and a compact, bounded
-- rendering of any value, for matcher messages and reports.
local null = require("cjson").null

-- Secrets are masked before a value is cut or escaped: a cut or escaped secret would no
-- longer match the redaction applied to reports. (Plain lua5.4 test runs have no host.)
local ok_redact, redact_mod = pcall(require, "evalua.redact")
local redact = ok_redact and redact_mod.redact or function(s) return s end

local diff = {}

local MAX_STRING, MAX_TEXT, MAX_DEPTH = 200, 400, 4

-- Numbers first (ascending), then strings, then anything else by its text: a stable
-- order makes "the first difference" the same on every run.
local function key_before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    if ta == "number" or tb == "number" then return ta == "number" end
    return ta < tb
  end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

-- Sorted keys of one or two tables (their union).
function diff.keys(a, b)
  local seen, keys = {}, {}
  for _, t in ipairs({ a, b }) do
    for k in pairs(t) do
      if not seen[k] then seen[k], keys[#keys + 1] = true, k end
    end
  end
  table.sort(keys, key_before)
  return keys
end

local function path_segment(k)
  if math.type(k) == "integer" then return "[" .. k .. "]" end
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return "." .. k end
  return "[" .. diff.show(k) .. "]"
end

local function first(expected, actual, path, seen)
  if rawequal(expected, actual) then return nil end
  if type(expected) ~= "table" or type(actual) ~= "table" then
    if expected == actual then return nil end
    return path, expected, actual
  end
  if seen[expected] == actual then return nil end  -- a cycle already being compared
  seen[expected] = actual
  for _, k in ipairs(diff.keys(expected, actual)) do
    local p, e, a = first(expected[k], actual[k], path .. path_segment(k), seen)
    if p then return p, e, a end
  end
  return nil
end

-- nil when equal; else the JSON-style path of the first difference ("$.cases[2].name")
-- and the expected and actual values found there.
function diff.first_difference(expected, actual)
  return first(expected, actual, "$", {})
end

function diff.equal(a, b)
  return diff.first_difference(a, b) == nil
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote(s)
  s = redact(s)
  local more = #s - MAX_STRING
  if more > 0 then s = s:sub(1, MAX_STRING) end
  s = '"' .. s:gsub('[%c"\\]', function(c) return escapes[c] or ("\\%03d"):format(c:byte()) end) .. '"'
  return more > 0 and (s .. "…(" .. more .. " more bytes)") or s
end

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function render(v, depth, seen)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if v == null then return "null" end
  if tv == "number" then
    return math.type(v) == "integer" and tostring(v) or ("%.14g"):format(v)
  end
  if tv ~= "table" then return redact(tostring(v)) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return redact(tostring(v)) end
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{…}" end
  seen[v] = true
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = render(v[i], depth + 1, seen) end
  else
    for _, k in ipairs(diff.keys(v)) do
      local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. render(k, depth + 1, seen) .. "]")
      parts[#parts + 1] = name .. " = " .. render(v[k], depth + 1, seen)
    end
  end
  seen[v] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- A one-line rendering of `v`, at most about MAX_TEXT characters.
function diff.show(v)
  local text = render(v, 0, {})
  if #text > MAX_TEXT then
    text = text:sub(1, MAX_TEXT) .. "…"
  end
  return text
end

return diff
