-- Turns the declared tests of every file into the ordered list this process runs:
-- --filter, --tag, --repeat (or a test's `repeats`), then --shard K/N (round-robin over
-- that list, so every shard of a CI matrix computes the same split), plus the threshold
-- gates in scope and the pass-rate entries of repeated tests.
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

-- jobs (this shard's, in order), gates (threshold declarations in scope of them),
-- counts {declared, selected, digest, jobs} (tests in the files; of them, selected
-- before sharding; a digest of the selected list, so that a merge can tell shards of
-- one plan; jobs before sharding) and rates (pass-rate entries of repeated tests).
-- A job is {spec, file, blocks, seq, rep, reps, rate} (blocks: read only, shared); seq numbers a file's selected
-- tests before sharding, so shards agree on it. A gate is {gate, line, block, file,
-- scope_total}. A rate is {spec, file, id, seq, repeats, pass_rate}.
function plan.build(files, opts)
  local all, chains = {}, {}   -- chains: a block's chain, shared by the jobs of its tests
  local counts = { declared = 0, selected = 0 }
  for _, file in ipairs(files) do
    local seq = 0
    if file.root then
      each_test(file.root, function(spec)
        counts.declared = counts.declared + 1
        if not selected(spec, opts) then return end
        counts.selected = counts.selected + 1
        local reps = spec.repeats or opts.repeat_count or 1
        local pass_rate = spec.pass_rate or opts.pass_rate
        local rate = pass_rate and { spec = spec, file = file, repeats = reps, pass_rate = pass_rate }
        local blocks = chains[spec.block] or plan.blocks(spec)
        chains[spec.block] = blocks
        for rep = 1, reps do
          seq = seq + 1
          all[#all + 1] = { spec = spec, file = file, blocks = blocks, seq = seq,
                            rep = reps > 1 and rep or nil, reps = reps, rate = rate }
        end
        if rate then rate.seq, rate.id = seq, ("%s#rate%d"):format(file.path, seq) end
      end)
    end
  end
  local ids = {}
  for i, job in ipairs(all) do ids[i] = job.file.path .. "#" .. job.seq end
  counts.digest = plan.digest(table.concat(ids, "\n"))
  counts.jobs = #all
  local scope_total, mine, rates = {}, {}, {}
  for i, job in ipairs(all) do
    local in_shard = not opts.shard or (i - 1) % opts.shard.n == opts.shard.k - 1
    if in_shard then
      mine[#mine + 1] = job
      if job.rate and not job.rate.listed then
        job.rate.listed = true
        rates[#rates + 1] = job.rate
      end
    end
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
  return mine, gates, counts, rates
end

return plan
