-- The whole session as JSON (tests, outcomes, output, runs, cases, metrics): the input
-- of `evalua report merge`, `report diff` and other tools. Written piece by piece: the
-- session's fields one per line, then each file and each test as one compact line
-- (keys sorted), the runs of a finished test as the compact text it kept (masked, as
-- everything written, by the sink).
local markup = require "evalua.report.markup"
local record = require "evalua.runner.record"

local json_report = {}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- One test entry or file as a compact object, its runs from what it kept.
local function owner_json(owner)
  local parts = {}
  for _, k in ipairs(sorted_keys(owner)) do
    local v = k == "runs" and record.runs_json(owner) or record.encode(owner[k], k)
    parts[#parts + 1] = record.encode(k) .. ":" .. v
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local LISTS = { files = true, tests = true }

function json_report.new(sink)
  -- JSON copies a string's bytes: text that is not UTF-8 (a service's answer, a
  -- test's output) is made valid, so that other tools can read the report.
  local function write(s) sink.write(markup.utf8(s)) end
  local function finish(_, data)
    local keys = sorted_keys(data)
    write("{\n")
    for i, k in ipairs(keys) do
      local last = i == #keys and "\n" or ",\n"
      local v = data[k]
      if LISTS[k] and type(v) == "table" and #v > 0 then
        write(("  %s: [\n"):format(record.encode(k)))
        for j, owner in ipairs(v) do write("    " .. owner_json(owner) .. (j < #v and ",\n" or "\n")) end
        write("  ]" .. last)
      else
        write(("  %s: %s%s"):format(record.encode(k), record.encode(v, k), last))
      end
    end
    write("}\n")
  end
  return { name = "json", finish = finish }
end

return json_report
