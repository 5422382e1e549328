-- What a finished test keeps for the reports. Its runs (cases, metrics, conversations:
-- the bulk of a session) are held as one compact JSON text instead of Lua tables --
-- about half the memory, one allocation -- which the JSON report writes as it is and
-- the other reporters and thresholds decode one test at a time. The service's own
-- documents (`raw`) were never kept: session.plain drops them.
local json = require "evalua.json"

local record = {}

-- Fields that hold arrays, so that they stay arrays in JSON when empty.
local ARRAYS = { files = true, tests = true, failures = true, runs = true, cases = true,
                 metrics = true, tags = true, path = true, scope = true, partial = true,
                 attempts = true }

-- Mark the known array fields (recursively) so that empty ones encode as [].
function record.mark_arrays(v)
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do
    if type(x) == "table" then
      record.mark_arrays(x)
      if ARRAYS[k] then json.array(x) end
    end
  end
  return v
end

-- A decoder may give whole numbers as floats: make them integers again (line numbers,
-- counts, scores print as `1`, not `1.0`).
local function integers(v)
  for k, x in pairs(v) do
    if type(x) == "table" then
      integers(x)
    elseif math.type(x) == "float" and math.tointeger(x) then
      v[k] = math.tointeger(x)
    end
  end
end

-- Whether json.decode gives whole numbers as integers and empty arrays as arrays
-- already (the host's decoder does; a stand-in on cjson does not): then decoded data
-- needs no pass over it, which would take longer than the decoding.
local FAITHFUL = math.type(json.decode("[1]")[1]) == "integer" and json.encode(json.decode('{"a":[]}')) == '{"a":[]}'

-- Decoded JSON as the session's plain data: whole numbers integers, arrays marked.
function record.normalize(v)
  if FAITHFUL then return v end
  integers(v)
  return record.mark_arrays(v)
end

-- Plain data as compact JSON, keys sorted (the same data always gives the same text).
-- `field` names the value when it is one, so that an empty array stays one.
function record.encode(v, field)
  if type(v) == "table" then
    record.mark_arrays(v)
    if ARRAYS[field] then json.array(v) end
  end
  return json.encode(v, { sort_keys = true })
end

-- Keep `owner.runs` (a test entry's or a file's plain runs) as compact JSON text.
function record.compact(owner)
  if type(owner.runs) == "table" and #owner.runs > 0 then owner.runs = record.encode(owner.runs, "runs") end
end

-- The owner's runs as an array of plain runs, decoded when kept as text (a new table
-- on every call: nothing decoded stays alive once the caller drops it); `filter`
-- (redaction) is applied to the text first.
function record.runs(owner, filter)
  local runs = owner.runs
  if type(runs) == "string" then
    return record.normalize(json.array(json.decode(filter and filter(runs) or runs)))
  end
  return runs or json.array()
end

-- The owner's runs as compact JSON text.
function record.runs_json(owner)
  local runs = owner.runs
  if type(runs) == "string" then return runs end
  return record.encode(runs or {}, "runs")
end

return record
