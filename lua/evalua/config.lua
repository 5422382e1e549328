--- config: the optional evalua.config.lua (profiles of base URLs, API versions, the
-- variables that hold each credential, test defaults) and --env-file, loaded once at
-- start. Providers and `evalua test` read their section through config.get(name); a
-- key evalua does not know is an error naming the file and line, never ignored.
local errors = require "evalua.errors"
local fs = require "evalua.fs"
local redact = require "evalua.redact"

local config = {}

config.FILE = "evalua.config.lua"

-- What a provider section may hold: values, and `env` naming the variable of an option.
local PROVIDERS = {
  agentforce = { values = { "base_url", "client_id", "api_version", "api", "queue_timeout", "queue_interval" },
                 env = { "base_url", "client_id", "client_secret" } },
  futureagi = { values = { "base_url" }, env = { "base_url", "api_key", "secret_key" } },
  kapso = { values = { "base_url", "pass_score" }, env = { "base_url", "api_key" } },
  glow = { values = { "base_url", "api" }, env = { "base_url", "token", "api_key" } },
}
-- Options every provider takes (http timeout, wait backoff).
local PROVIDER_COMMON = { "timeout", "wait" }
local TEST = { "reporters", "jobs", "timeout", "thresholds" }
local TOP = { "profile", "profiles", "defaults" }

local function set(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

-- The state: what was loaded, and from where.
local loaded = { profile = nil, sections = {}, env = {}, env_names = {} }

local function config_error(message)
  error(errors.new({ kind = "config", message = message }), 0)
end

---------------------------------------------------------------------------
-- Finding keys in the file (a table constructor keeps no line numbers)

-- The line of `path` (a list of keys) in `source`: each key is searched from the line
-- where its parent was found, as `key =` or `["key"] =`. 1 when it cannot be told.
local function line_of(source, path)
  local lines = {}
  for l in (source .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = l end
  local from = 1
  for _, key in ipairs(path) do
    local k = tostring(key):gsub("%W", "%%%0")
    local found
    for n = from, #lines do
      local l = lines[n]:gsub("%-%-.*$", "")
      if l:find("%f[%w_]" .. k .. "%f[^%w_]%s*=") or l:find("%[%s*[\"']" .. k .. "[\"']%s*%]%s*=") then
        found = n
        break
      end
    end
    if not found then return from end
    from = found
  end
  return from
end

---------------------------------------------------------------------------
-- Checking the table the file returned

local function checker(file, source)
  local function fail(path, fmt, ...)
    config_error(("%s:%d: %s"):format(file, line_of(source, path), fmt:format(...)))
  end
  local function join(path) return table.concat(path, ".") end
  local function keys(t, known, path)
    if type(t) ~= "table" then fail(path, "%s must be a table, got %s", join(path), type(t)) end
    for k in pairs(t) do
      if not known[k] then
        local sub = table.move(path, 1, #path, 1, {})
        sub[#sub + 1] = tostring(k)
        fail(sub, "unknown key '%s'%s (known: %s)", tostring(k), #path > 0 and (" in " .. join(path)) or "",
          table.concat(sorted_keys(known), ", "))
      end
    end
  end
  local function typed(v, kinds, path)
    if not kinds[type(v)] then
      fail(path, "%s must be a %s, got %s", join(path), table.concat(sorted_keys(kinds), " or "), type(v))
    end
  end
  local function provider(name, t, path)
    local spec = PROVIDERS[name]
    local known = set(spec.values)
    for _, k in ipairs(PROVIDER_COMMON) do known[k] = true end
    known.env = true
    keys(t, known, path)
    for k, v in pairs(t) do
      local p = { table.unpack(path) }
      p[#p + 1] = k
      if k == "env" then
        keys(v, set(spec.env), p)
        for opt, var in pairs(v) do
          local q = { table.unpack(p) }
          q[#q + 1] = opt
          if type(var) ~= "string" or not var:match("^[%a_][%w_]*$") then
            fail(q, "%s must name an environment variable, got %s", join(q), type(var) == "string" and ("'" .. var .. "'") or type(var))
          end
        end
      elseif k == "wait" then
        typed(v, { table = true }, p)
      else
        typed(v, { string = true, number = true }, p)
      end
    end
  end
  local function test(t, path)
    keys(t, set(TEST), path)
    for k, v in pairs(t) do
      local p = { table.unpack(path) }
      p[#p + 1] = k
      if k == "reporters" or k == "thresholds" then
        typed(v, { table = true }, p)
        if k == "reporters" then
          for i, r in ipairs(v) do
            if type(r) ~= "string" then fail(p, "%s[%d] must be a string like \"junit:out.xml\"", join(p), i) end
          end
        else -- the gates threshold{} takes, checked now rather than when a test file uses them
          local ok, why = pcall(require("evalua.runner.threshold").gates, v)
          if not ok then fail(p, "%s: %s", join(p), tostring(why):gsub("^.-bad argument", "bad argument")) end
        end
      elseif k == "jobs" then
        if math.type(v) ~= "integer" or v < 1 then fail(p, "%s must be a positive whole number", join(p)) end
      else
        typed(v, { string = true, number = true }, p)
      end
    end
  end
  local function profile(t, path)
    local known = set({ "test" })
    for name in pairs(PROVIDERS) do known[name] = true end
    keys(t, known, path)
    for k, v in pairs(t) do
      local p = { table.unpack(path) }
      p[#p + 1] = k
      if k == "test" then test(v, p) else provider(k, v, p) end
    end
  end
  return function(t)
    if type(t) ~= "table" then config_error(("%s: must return a table, got %s"):format(file, type(t))) end
    keys(t, set(TOP), {})
    if t.profile ~= nil and type(t.profile) ~= "string" then fail({ "profile" }, "profile must be a profile name") end
    if t.defaults ~= nil then profile(t.defaults, { "defaults" }) end
    if t.profiles ~= nil then
      typed(t.profiles, { table = true }, { "profiles" })
      for name, p in pairs(t.profiles) do
        if type(name) ~= "string" then fail({ "profiles" }, "profile names must be strings") end
        profile(p, { "profiles", name })
      end
    end
  end
end

---------------------------------------------------------------------------
-- Loading

-- The nearest evalua.config.lua in the working directory or above, as a relative path
-- (PWD may be stale when a parent process changed directory without updating it). The
-- depth is bounded: ".." of "/" is "/".
local function find_upward()
  local up = ""
  -- As many levels as the working directory has (relative paths: PWD can be stale),
  -- not a fixed 64 tries at every start-up.
  local cwd = fs.cwd() or ""
  local _, depth = cwd:gsub("/[^/]+", "")
  for _ = 1, math.min(depth + 1, 64) do
    local path = up .. config.FILE
    local f = io.open(path, "r")
    if f then
      f:close()
      return path
    end
    up = up .. "../"
  end
end

local function read(path, what)
  local f, err = io.open(path, "r")
  if not f then config_error(("cannot read %s %s: %s"):format(what, path, tostring(err))) end
  local text = f:read("a")
  f:close()
  return text
end

-- A copy of `base` with `over` on top, nested tables merged (lists are replaced).
local function merge(base, over)
  local out = {}
  for k, v in pairs(base or {}) do out[k] = v end
  for k, v in pairs(over or {}) do
    if type(v) == "table" and type(out[k]) == "table" and #v == 0 and next(v) ~= nil then
      out[k] = merge(out[k], v)
    else
      out[k] = v
    end
  end
  return out
end

--- config.parse_env(text, name) -> {KEY = VALUE}, names in file order. `KEY=VALUE`
-- lines; blank lines, `# comments` and a leading `export ` are allowed, quotes around a
-- value are removed. Anything else is an error naming name:line.
function config.parse_env(text, name)
  local values, names, n = {}, {}, 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    n = n + 1
    if line:match("%S") and not line:match("^%s*#") then
      local key, value = line:match("^%s*export%s+([%a_][%w_]*)%s*=(.*)$")
      if not key then key, value = line:match("^%s*([%a_][%w_]*)%s*=(.*)$") end
      if not key then
        config_error(("%s:%d: expected KEY=VALUE, got '%s'"):format(name, n, redact.redact(line:sub(1, 40))))
      end
      value = value:gsub("^%s+", ""):gsub("%s+$", "")
      local q = value:sub(1, 1)
      if (q == '"' or q == "'") and #value >= 2 and value:sub(-1) == q then
        value = value:sub(2, -2)
      elseif value:find("%s#") then
        value = value:gsub("%s+#.*$", "")
      end
      if values[key] == nil then names[#names + 1] = key end
      values[key] = value
    end
  end
  return values, names
end

--- config.load{path=, profile=, env_file=} -> the effective configuration.
-- `path` defaults to the nearest evalua.config.lua upward from the working directory
-- (none is fine); `profile` to EVALUA_PROFILE, then the file's `profile`. Errors are of
-- kind "config" (exit code 2) and name the file and line.
function config.load(opts)
  opts = opts or {}
  local state = { sections = {}, env = {}, env_names = {} }
  if opts.env_file then
    state.env, state.env_names = config.parse_env(read(opts.env_file, "env file"), opts.env_file)
    state.env_file = opts.env_file
    for _, v in pairs(state.env) do redact.register(v) end
  end
  local path = opts.path or find_upward()
  local profile, source = opts.profile, opts.profile and "--profile"
  if not profile then
    local e = os.getenv("EVALUA_PROFILE")
    if e and e ~= "" then profile, source = e, "EVALUA_PROFILE" end
  end
  if path then
    local text = read(path, "configuration file")
    local fn, err = load(text, "@" .. path, "t")
    if not fn then config_error(tostring(err)) end
    local ok, t = pcall(fn)
    if not ok then config_error(("%s: %s"):format(path, tostring(t))) end
    checker(path, text)(t)
    state.file = path
    if not profile and t.profile then profile, source = t.profile, "the file's default" end
    local chosen = {}
    if profile then
      chosen = (t.profiles or {})[profile]
      if not chosen then
        config_error(("%s: no profile '%s' (from %s); profiles: %s"):format(path, profile, source,
          next(t.profiles or {}) and table.concat(sorted_keys(t.profiles), ", ") or "none"))
      end
    end
    state.sections = merge(t.defaults, chosen)
  elseif profile then
    config_error(("profile '%s' (from %s) needs a configuration file: no %s in this directory or above "
      .. "(or pass --config FILE)"):format(profile, source, config.FILE))
  end
  state.profile, state.profile_source = profile, source
  loaded = state
  return state
end

--- config.get(name) -> the active profile's section `name` ("agentforce", "test", ...),
-- a table (empty when the configuration says nothing about it). A provider section
-- holds option values and `env` = {option = "VARIABLE"}.
function config.get(name)
  return merge(loaded.sections[name], nil)
end

--- config.env(name) -> the variable's value: the process environment's, else the env
-- file's; nil when neither sets it (an empty value counts as unset). What env(),
-- secret() and the providers read.
function config.env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then v = loaded.env[name] end
  if v == "" then return nil end
  return v
end

--- config.current() -> what was loaded: file, profile, profile_source, env_file,
-- env_names, sections (for `evalua config`).
function config.current()
  return loaded
end

return config
