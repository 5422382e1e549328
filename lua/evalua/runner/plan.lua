-- Turns the declared tests of every file into the ordered list this process runs:
-- --filter, --tag, --repeat, then --shard K/N (round-robin over that list, so every
-- shard of a CI matrix computes the same split), plus the threshold gates in scope.
local plan = {}

function plan.full_name(path, name)
  if #path == 0 then return name end
  return table.concat(path, " > ") .. " > " .. name
end

local function each_test(block, fn)
  for _, child in ipairs(block.children) do
    if child.fn then fn(child) else each_test(child, fn) end
  end
end

-- The block chain of a test, outermost first.
function plan.blocks(spec)
  local chain, b = {}, spec.block
  while b do
    table.insert(chain, 1, b)
    b = b.parent
  end
  return chain
end

-- FNV-1a (32 bits) of a string, as 8 hex digits: equal lists give equal digests.
function plan.digest(s)
  local h = 0x811c9dc5
  for i = 1, #s do h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  return ("%08x"):format(h)
end

local function selected(spec, opts)
  if opts.filter and not plan.full_name(spec.block.path, spec.name):find(opts.filter) then return false end
  if opts.tags and next(opts.tags) then
    for _, t in ipairs(spec.tags) do
      if opts.tags[t] then return true end
    end
    return false
  end
  return true
end

-- jobs (this shard's, in order), gates (threshold declarations in scope of them) and
-- counts {declared, selected, digest} (tests in the files; of them, selected before
-- sharding; a digest of the selected list, so that a merge can tell shards of one plan).
-- A job is {spec, file, blocks, seq, rep}; seq numbers a file's selected tests before
-- sharding, so shards agree on it. A gate is {gate, line, block, file, scope_total}.
function plan.build(files, opts)
  local all, repeats = {}, opts.repeat_count or 1
  local counts = { declared = 0, selected = 0 }
  for _, file in ipairs(files) do
    local seq = 0
    if file.root then
      each_test(file.root, function(spec)
        counts.declared = counts.declared + 1
        if not selected(spec, opts) then return end
        counts.selected = counts.selected + 1
        for rep = 1, repeats do
          seq = seq + 1
          all[#all + 1] = { spec = spec, file = file, blocks = plan.blocks(spec), seq = seq,
                            rep = repeats > 1 and rep or nil }
        end
      end)
    end
  end
  local ids = {}
  for i, job in ipairs(all) do ids[i] = job.file.path .. "#" .. job.seq end
  counts.digest = plan.digest(table.concat(ids, "\n"))
  local scope_total, mine = {}, {}
  for i, job in ipairs(all) do
    local in_shard = not opts.shard or (i - 1) % opts.shard.n == opts.shard.k - 1
    if in_shard then mine[#mine + 1] = job end
    for _, b in ipairs(job.blocks) do
      scope_total[b] = (scope_total[b] or 0) + 1
      if in_shard then b.remaining = (b.remaining or 0) + 1 end
    end
  end
  local gates = {}
  for _, file in ipairs(files) do
    local function visit(block)
      if not block.remaining then return end
      for _, t in ipairs(block.thresholds) do
        gates[#gates + 1] = { gate = t.gate, line = t.line, block = block, file = file,
                              scope_total = scope_total[block] }
      end
      for _, child in ipairs(block.children) do
        if not child.fn then visit(child) end
      end
    end
    if file.root then visit(file.root) end
  end
  return mine, gates, counts
end

return plan
