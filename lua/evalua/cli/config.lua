-- `evalua config`: the effective configuration (file, profile, env file, every section
-- of the active profile) with secrets redacted: variables are shown by name and
-- whether they are set, never by value.
local args = require "evalua.runner.args"
local config = require "evalua.config"
local redact = require "evalua.redact"

local cli = {}

local OPTIONS = {
  { long = "--help", short = "-h", help = "show this help" },
}

local USAGE = [[
usage: evalua [--config FILE] [--profile NAME] [--env-file FILE] config

Prints the configuration evalua would use: which evalua.config.lua, which profile and
why, and the settings of that profile, with secrets redacted.

options:
]]

local function show(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local function is_list(t)
  return #t > 0 and next(t, #t) == nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- `prefix.key = value` lines of a section, sorted, lists on one line.
local function flatten(t, prefix, out)
  for _, k in ipairs(sorted_keys(t)) do
    local v, name = t[k], prefix .. "." .. tostring(k)
    if type(v) == "table" and is_list(v) then
      local items = {}
      for i, x in ipairs(v) do items[i] = show(x) end
      out[#out + 1] = ("%s = { %s }"):format(name, table.concat(items, ", "))
    elseif type(v) == "table" then
      flatten(v, name, out)
    else
      out[#out + 1] = ("%s = %s"):format(name, show(v))
    end
  end
  return out
end

local function variable(name)
  local set = config.env(name) ~= nil
  return ("$%s (%s)"):format(name, set and "set" or "not set")
end

function cli.main(argv)
  local o, rest = args.command("config", argv, OPTIONS, USAGE)
  if not o then return rest end
  if #rest > 0 then
    io.stderr:write("evalua config: unexpected argument ", rest[1], "\n")
    return 2
  end
  local c = config.current()
  local lines = {
    "file: " .. (c.file or ("none (no " .. config.FILE .. " in this directory or above)")),
    "profile: " .. (c.profile and (c.profile .. " (from " .. c.profile_source .. ")") or "none"),
  }
  if c.env_file then
    lines[#lines + 1] = ("env file: %s (%s; values are secrets, not shown)"):format(c.env_file,
      #c.env_names > 0 and table.concat(c.env_names, ", ") or "no variables")
  end
  for _, name in ipairs(sorted_keys(c.sections)) do
    local section = config.get(name)
    local vars = section.env or {}
    section.env = nil
    lines[#lines + 1] = ""
    flatten(section, name, lines)
    for _, opt in ipairs(sorted_keys(vars)) do
      lines[#lines + 1] = ("%s.%s from %s"):format(name, opt, variable(vars[opt]))
    end
  end
  io.stdout:write(redact.redact(table.concat(lines, "\n")), "\n")
  return 0
end

return cli
