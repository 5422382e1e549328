-- Whether a set of JSON reports is one whole session: every shard K/N of one plan,
-- once each, from one evalua version. `evalua report merge` refuses anything else
-- (a lost CI artifact must turn the build red, not drop its tests from the report).
local shards = {}

local function shard_of(r)
  local k, n = tostring(r.shard or ""):match("^(%d+)/(%d+)$")
  return tonumber(k), tonumber(n)
end

-- Every test id a report holds, and the first report that held each.
local function duplicate_ids(reports, names, out)
  local seen = {}
  for i, r in ipairs(reports) do
    for _, t in ipairs(r.tests or {}) do
      if t.kind ~= "threshold" and t.id then
        if seen[t.id] and seen[t.id] ~= i then
          out[#out + 1] = ("test %s is in both %s and %s"):format(t.id, names[seen[t.id]], names[i])
          return
        end
        seen[t.id] = seen[t.id] or i
      end
    end
  end
end

-- Differences in a field that every report must share.
local function same(reports, names, field, what, out)
  local first
  for i, r in ipairs(reports) do
    local v = field(r)
    if first == nil then
      first = i
    elseif v ~= field(reports[first]) then
      out[#out + 1] = ("%s differ: %s has %s, %s has %s"):format(what, names[first], tostring(field(reports[first])),
        names[i], tostring(v))
      return
    end
  end
end

-- The problems that make `reports` (read from the files `names`) not one whole
-- session, as messages naming the files; empty when they are.
function shards.problems(reports, names)
  local out, sharded, plain = {}, {}, {}
  for i, r in ipairs(reports) do
    if r.shard then sharded[#sharded + 1] = i else plain[#plain + 1] = i end
  end
  same(reports, names, function(r) return r.evalua end, "evalua versions", out)
  if #sharded == 0 then
    duplicate_ids(reports, names, out)
    return out
  end
  if #plain > 0 then
    out[#out + 1] = ("%s is not a shard report, %s is shard %s"):format(names[plain[1]], names[sharded[1]],
      reports[sharded[1]].shard)
    return out
  end
  same(reports, names, function(r) return select(2, shard_of(r)) end, "shard counts", out)
  same(reports, names, function(r) return r.plan and ("%s tests (list %s)"):format(r.plan.tests, r.plan.digest) end,
    "test lists", out)
  if #out > 0 then return out end
  local n, by = select(2, shard_of(reports[1])), {}
  for i, r in ipairs(reports) do
    local k = shard_of(r)
    if by[k] then
      out[#out + 1] = ("shard %d/%d twice: %s and %s"):format(k, n, names[by[k]], names[i])
    end
    by[k] = by[k] or i
  end
  local have = {}
  for k = 1, n do
    if by[k] then have[#have + 1] = ("%d/%d from %s"):format(k, n, names[by[k]]) end
  end
  for k = 1, n do
    if not by[k] then
      out[#out + 1] = ("shard %d/%d is missing (have %s)"):format(k, n, table.concat(have, ", "))
    end
  end
  return out
end

return shards
