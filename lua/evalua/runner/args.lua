-- Options of the evalua sub-commands: `--name VALUE`, `--name=VALUE`, `-x VALUE`,
-- repeatable options, flags, and `--` to end the options. Declared once per command
-- so that parsing and --help come from the same table.
local duration = require "evalua.duration"
local args = {}

local function key_of(long) return (long:gsub("^%-%-", ""):gsub("%-", "_")) end

-- spec: array of {long = "--jobs", short = "-j", arg = "N", many = bool, help = "..."}.
-- Returns options (keyed by the long name, dashes as underscores; `many` ones as
-- arrays) and the positional arguments, or nil and a message.
function args.parse(argv, spec)
  local by = {}
  for _, o in ipairs(spec) do
    by[o.long] = o
    if o.short then by[o.short] = o end
  end
  local opts, rest, i = {}, {}, 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      table.move(argv, i + 1, #argv, #rest + 1, rest)
      break
    end
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    local o = by[name]
    if a:sub(1, 1) ~= "-" or a == "-" then
      rest[#rest + 1] = a
    elseif not o then
      return nil, "unknown option " .. name
    else
      local value = true
      if o.arg then
        value = inline
        if value == nil then
          i = i + 1
          value = argv[i]
        end
        if value == nil then return nil, ("%s needs a value (%s)"):format(name, o.arg) end
      elseif inline then
        return nil, name .. " takes no value"
      end
      local key = key_of(o.long)
      if o.many then
        opts[key] = opts[key] or {}
        table.insert(opts[key], value)
      else
        opts[key] = value
      end
    end
    i = i + 1
  end
  return opts, rest
end

-- The options part of a --help text.
function args.help(spec)
  local lines = {}
  for _, o in ipairs(spec) do
    local names = (o.short and (o.short .. ", ") or "    ") .. o.long .. (o.arg and (" " .. o.arg) or "")
    lines[#lines + 1] = ("  %-28s %s"):format(names, o.help)
  end
  return table.concat(lines, "\n")
end

-- A whole-number option of at least `min` (default 1), or nil and a message.
function args.count(value, name, min)
  min = min or 1
  local n = math.tointeger(tonumber(value))
  if not n or n < min then
    return nil, ("%s expects a %s whole number, got '%s'"):format(name, min == 1 and "positive" or ">= " .. min, value)
  end
  return n
end

-- A duration option in seconds, or nil and a message naming the option (never the
-- internal function that parsed it).
function args.duration(value, name)
  local secs = duration.parse(value)
  if not secs then return nil, ("%s: invalid duration '%s' (use e.g. 30s, 10m)"):format(name, tostring(value)) end
  return secs
end


--- A sub-command's prologue: parse argv; on a usage error print it (exit code 2), on
-- --help print the usage (exit code 0). Returns options and the rest, or nil and the code.
function args.command(name, argv, options, usage)
  local o, rest = args.parse(argv, options)
  if not o then
    io.stderr:write("evalua ", name, ": ", rest, "\n")
    return nil, 2
  end
  if o.help then
    io.stdout:write(usage, args.help(options), "\n")
    return nil, 0
  end
  return o, rest
end

return args
