-- The globals a test file sees: test, describe, the four hooks, threshold, skip,
-- expect and check. Declarations build a tree of blocks while the file loads; the
-- runner walks it afterwards.
local duration = require "evalua.duration"
local errors = require "evalua.errors"
local context = require "evalua.runner.context"
local expect = require "evalua.runner.expect"
local repeats = require "evalua.runner.repeats"
local threshold = require "evalua.runner.threshold"
local where = require "evalua.runner.where"

local dsl = {}

local Skip = { __name = "evalua.skip" }
Skip.__index = Skip
function Skip.__tostring(s) return "skipped: " .. s.reason end

-- The error skip(reason) raises (also raised by the budget for a refused start).
function dsl.skip(reason)
  return setmetatable({ reason = reason }, Skip)
end

function dsl.is_skip(v)
  return getmetatable(v) == Skip
end

local HOOKS = { "before_all", "after_all", "before_each", "after_each" }

local function new_block(name, parent, file, line)
  local path = {}
  if parent then
    table.move(parent.path, 1, #parent.path, 1, path)
    path[#path + 1] = name
  end
  local block = { name = name, parent = parent, file = file, line = line, path = path,
                  hooks = {}, children = {}, thresholds = {} }
  for _, h in ipairs(HOOKS) do block.hooks[h] = {} end
  return block
end

local function check_type(v, want, n, fname)
  if type(v) ~= want then errors.argerror(n, fname, ("%s expected, got %s"):format(want, type(v))) end
end

local function tag_list(tags)
  if tags == nil then return {} end
  if type(tags) == "string" then return { tags } end
  check_type(tags, "table", 3, "test")
  for _, t in ipairs(tags) do check_type(t, "string", 3, "test") end
  return table.move(tags, 1, #tags, 1, {})
end

-- check(name, cond): a soft assertion; records a failure and lets the test go on.
-- `cond` may be a function running expectations: their failure is recorded instead.
function dsl.check(name, cond)
  check_type(name, "string", 1, "check")
  local owner = context.owner()
  if not (owner and owner.spec) then -- a test's job (not a file or its hooks)
    error(errors.where() .. "check() can only be used inside a test", 0)
  end
  local failure
  if type(cond) == "function" then
    local ok, err = pcall(cond)
    if ok then return true end
    if not expect.is_failure(err) then error(err, 0) end
    failure = err
    failure.message = name .. ": " .. failure.message
  elseif cond then
    return true
  else
    failure = expect.failure({ message = "check failed: " .. name, expected = "truthy", actual = tostring(cond) })
  end
  failure.check = name
  context.add(owner, "failures", failure)
  return false
end

-- The environment for one test file (falling back to _G) and a function to call once
-- the file has loaded, after which declarations are refused.
function dsl.file_env(file)
  local state = { loading = true, block = new_block(nil, nil, file, 0) }
  file.root = state.block
  local env = setmetatable({}, { __index = _G })

  local function declaring(fname)
    if not state.loading then
      error(errors.where() .. fname .. "() belongs at the top level of a test file or in describe(), "
        .. "not inside a test", 0)
    end
    local _, line = where.user_frame()
    return line
  end

  function env.describe(name, fn)
    local line = declaring("describe")
    check_type(name, "string", 1, "describe")
    check_type(fn, "function", 2, "describe")
    local block = new_block(name, state.block, file, line)
    local outer = state.block
    outer.children[#outer.children + 1] = block
    state.block = block
    local ok, err = pcall(fn)
    state.block = outer
    if not ok then error(err, 0) end
  end

  function env.test(name, fn, opts)
    local line = declaring("test")
    check_type(name, "string", 1, "test")
    check_type(fn, "function", 2, "test")
    opts = opts or {}
    check_type(opts, "table", 3, "test")
    local spec = { name = name, fn = fn, block = state.block, line = line, tags = tag_list(opts.tags) }
    if opts.timeout ~= nil then
      local ok, secs = pcall(duration.seconds, opts.timeout)
      if not ok then errors.argerror(3, "test", "timeout: " .. tostring(secs):gsub("^.-%((.*)%)$", "%1")) end
      spec.timeout = secs
    end
    if opts.skip then spec.skip = type(opts.skip) == "string" and opts.skip or "skipped" end
    for key, min in pairs({ retries = 0, repeats = 1 }) do
      local n = opts[key]
      if n ~= nil and (math.type(n) ~= "integer" or n < min) then
        errors.argerror(3, "test", ("%s: a whole number >= %d expected, got %s"):format(key, min, tostring(n)))
      end
      spec[key] = n
    end
    if opts.pass_rate ~= nil then
      local rate, why = repeats.parse_rate(opts.pass_rate)
      if not rate then errors.argerror(3, "test", "pass_rate: " .. why) end
      spec.pass_rate = rate
    end
    state.block.children[#state.block.children + 1] = spec
  end

  for _, h in ipairs(HOOKS) do
    env[h] = function(fn)
      declaring(h)
      check_type(fn, "function", 1, h)
      local list = state.block.hooks[h]
      list[#list + 1] = fn
    end
  end

  function env.threshold(spec)
    local line = declaring("threshold")
    for _, gate in ipairs(threshold.gates(spec)) do
      local list = state.block.thresholds
      list[#list + 1] = { gate = gate, line = line }
    end
  end

  -- skip(reason): inside a test, stop it and mark it skipped; while the file loads,
  -- skip every test of the enclosing describe (or of the whole file).
  function env.skip(reason)
    reason = reason ~= nil and tostring(reason) or "skipped"
    if state.loading then
      state.block.skip = reason
      return
    end
    error(dsl.skip(reason), 0)
  end

  env.expect = expect.expect
  env.check = dsl.check
  return env, function() state.loading = false end
end

return dsl
