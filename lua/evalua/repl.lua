--- repl: the interactive prompt. Each line runs as a task, so `http.get(...)` or
-- `run:wait()` work at the prompt; Ctrl-C stops the line, not the REPL.
local sched = require "evalua.sched"
local version = require "evalua.version"
local readline = require "evalua.readline"
local boot = require "evalua.boot"
local inspect = require "evalua.inspect"
local task = require "evalua.task"

local repl = {}

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
                   "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

-- The keys a value offers: its own (tables) and those of its metatables' __index tables
-- (methods of runs, clients, handles). Bounded: a cycle of __index tables ends.
local function keys_of(v, methods_only)
  local out, seen = {}, {}
  local function add(t)
    for k, x in pairs(t) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and not k:match("^__")
        and (not methods_only or type(x) == "function") then
        out[k] = true
      end
    end
  end
  if type(v) == "table" then add(v) end
  local mt = getmetatable(v)
  for _ = 1, 10 do
    local index = type(mt) == "table" and rawget(mt, "__index")
    if type(index) ~= "table" or seen[index] then break end
    seen[index] = true
    add(index)
    mt = getmetatable(index)
  end
  return out
end

-- The value a dotted name (`evalua.http`) stands for, without running any code but
-- field lookups (a lazy module loads). nil when a part is missing.
local function resolve(path)
  local v = _G
  for name in path:gmatch("[^.:]+") do
    local ok, x = pcall(function() return v[name] end)
    if not ok or x == nil then return nil end
    v = x
  end
  return v
end

--- repl.complete(word, line) -> the completions of `word`: globals and keywords, fields
-- after `.`, methods after `:`.
function repl.complete(word)
  local path, sep, partial = word:match("^([%a_][%w_.:]*)([.:])([%w_]*)$")
  local candidates
  if path then
    local v = resolve(path)
    if v == nil then return {} end
    candidates = keys_of(v, sep == ":")
    if v == package.loaded.evalua and sep == "." then -- its modules load on first use
      for name in pairs(boot.lazy_globals(true)) do candidates[name] = true end
    end
  else
    partial = word:match("^[%a_][%w_]*$") or (word == "" and "")
    if not partial then return {} end
    candidates = keys_of(_G)
    for name in pairs(boot.lazy_globals()) do candidates[name] = true end
    for _, k in ipairs(KEYWORDS) do candidates[k] = true end
  end
  local out = {}
  for k in pairs(candidates) do
    if k:sub(1, #partial) == partial then out[#out + 1] = (path and (path .. sep) or "") .. k end
  end
  table.sort(out)
  return out
end

local HELP = [[
Type a Lua expression or statement; results are printed. A line may wait on I/O
(`run:wait()`); Ctrl-C stops the line, Ctrl-D leaves. Tab completes globals, fields
(after `.`) and methods (after `:`). `:help NAME` lists what a module holds.

Globals:
  json      JSON encode/decode (json.encode, json.decode, json.null)
  http      HTTP client (http.get, http.post, http.request) with retries and redaction
  task      tasks (task.spawn, task.sleep, task.all, task.timeout, task.cancel)
  poll      poll.wait(fn, opts): poll with backoff until fn says done
  auth      auth.client_credentials{...}: OAuth2 tokens, cached and refreshed
  env       env("NAME" [, default]): an environment variable
  secret    secret("NAME"): a credential from the environment, redacted wherever printed
  evalua    version, verbose, errors, redact, config, inspect, fs, on_interrupt
Providers (require them):
  evalua.providers.agentforce   Salesforce Agentforce Testing API: connect{}, c:start(name)
  evalua.providers.futureagi    Future AGI run tests
  evalua.providers.kapso        Kapso test runs
  evalua.providers.glow         Glow tests: replays and grading
Also: evalua.model (the result model), evalua.config (profiles), evalua.inspect.
]]

-- `:help` and `:help NAME` (a global, or a module name like evalua.providers.kapso).
local function help(arg)
  if arg == "" then
    io.stdout:write(HELP)
    return
  end
  local v = resolve(arg)
  if v == nil then
    local ok, m = pcall(require, arg)
    if ok then v = m end
  end
  if v == nil then
    io.stderr:write(("no global or module named %s (try :help)\n"):format(arg))
    return
  end
  local names = {}
  for k in pairs(keys_of(v)) do names[#names + 1] = k end
  table.sort(names)
  io.stdout:write(("%s (%s): %s\n"):format(arg, type(v), #names > 0 and table.concat(names, ", ") or "no fields"))
end

-- Leaving with runs in flight: say which; they stay in the journal for `evalua resume`.
local function warn_in_flight()
  local tracker = require("evalua.progress").current()
  local left = tracker and tracker:in_flight() or {}
  if #left == 0 then return end
  local ids = {}
  for i, e in ipairs(left) do ids[i] = ("%s:%s"):format(tostring(e.run.provider), tostring(e.run.id)) end
  io.stderr:write(("evalua: warning: leaving with %d run%s in flight: %s\n"
    .. "They keep running on the service and stay in the journal; collect them with `evalua resume`.\n")
    :format(#ids, #ids == 1 and "" or "s", table.concat(ids, ", ")))
end

local function history_file()
  local home = os.getenv("HOME")
  return home and (home .. "/.evalua_history")
end

-- Compile a line as an expression first (so `1+1` prints 2), then as a statement.
-- Returns fn, or nil plus "incomplete" when more lines are needed, or nil plus error.
local function compile(source)
  local fn = load("return " .. source, "=stdin", "t")
  if fn then return fn end
  local err
  fn, err = load(source, "=stdin", "t")
  if fn then return fn end
  if err:find("<eof>$") then return nil, "incomplete" end
  return nil, err
end

local function show_results(r)
  if r.n == 0 then return end
  local parts = {}
  for i = 1, r.n do parts[i] = inspect.inspect(r[i]) end
  io.stdout:write(table.concat(parts, "\t"), "\n")
end

local function run_line(fn)
  local h = task._keeper(fn)
  local co = h.co
  local status = sched.run(co)
  if status == "interrupted" then
    task.cancel(h)
    sched.run(co)
    io.stderr:write("interrupted\n")
    return
  end
  if status == "stuck" then
    io.stderr:write("evalua: the line waits on a task that can never finish (deadlock)\n")
    return
  end
  local tracker = require("evalua.progress").current()
  if tracker then tracker:clear() end
  if h.ok then show_results(h.results)
  else boot.print_error(h.err, h.traceback) end
end

function repl.main()
  local v = version.versions()
  io.stdout:write(("evalua %s (%s, libcurl %s). Globals: json http task poll auth env secret evalua. "
    .. ":help lists the modules; Tab completes; Ctrl-D exits.\n"):format(v.evalua, v.lua, v.curl))
  readline.set_completer(repl.complete)
  local hist = history_file()
  if hist then readline.load_history(hist) end
  local buffer = ""
  sched.set_interactive(true)
  while true do
    local line = readline.read(buffer == "" and "> " or ">> ")
    local interrupted = sched.take_interrupt()
    if line == nil and not interrupted then break end
    if interrupted then
      -- Ctrl-C while typing: drop what was typed, as shells do.
      io.stderr:write("\n(Ctrl-C: input discarded; Ctrl-D exits)\n")
      buffer, line = "", ""
    end
    local source = buffer == "" and line or (buffer .. "\n" .. line)
    local command, rest = source:match("^%s*:(%a+)%s*(.-)%s*$")
    if command then
      readline.add_history(source)
      if command == "help" then help(rest) else io.stderr:write(("unknown command :%s (try :help)\n"):format(command)) end
    elseif source:match("%S") then
      local fn, err = compile(source)
      if fn then
        readline.add_history(source)
        buffer = ""
        run_line(fn)
      elseif err == "incomplete" then
        buffer = source
      else
        readline.add_history(source)
        buffer = ""
        io.stderr:write(err, "\n")
      end
    end
  end
  io.stdout:write("\n")
  warn_in_flight()
  if hist then readline.save_history(hist) end
  return 0
end

return repl
