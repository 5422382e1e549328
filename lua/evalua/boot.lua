--- boot: the command line, the globals scripts see, and how a run ends (exit codes).
-- Kept small: it is loaded on every start, everything else is loaded on first use.
local sched = require "evalua.sched"
local transfer = require "evalua.transfer"
local version = require "evalua.version"
local errors = require "evalua.errors"
local redact = require "evalua.redact"

local boot = {}

-- The collector, chosen by measurement (tests/bench/RESULTS.md): incremental, each step
-- four times the default work (stepmul 400), and a pause the scheduler keeps at a headroom
-- of 16 MiB, 20-50% of the heap (sched.gc_headroom, core/sched.c): 150 for a script's small
-- heap (pause 120 there cost 8% more instructions per request), 120 for ten thousand
-- waiting runs (RSS per waiting run 7.2-7.5 -> 5.6-6.1 KB, peak 85-96 -> 70-73 MiB). A
-- script or the test runner that sets the collector itself turns this off.
collectgarbage("incremental", 150, 400)
sched.gc_headroom(8)
do
  local collect = collectgarbage
  local settings = { incremental = true, generational = true, setpause = true, setstepmul = true }
  collectgarbage = function(opt, ...) -- luacheck: ignore 121
    if settings[opt] then sched.gc_headroom(false) end
    return collect(opt, ...)
  end
end

local EXIT = { ok = 0, failed = 1, usage = 2, script = 3, infra = 4, interrupted = 130 }
boot.EXIT = EXIT

local USAGE = [==[
usage: evalua [options] [FILE [args...]]
       evalua [options] COMMAND [args...]

Drive hosted AI-agent testing services from Lua scripts.

Commands:
  run FILE [args...]   run a Lua script (`evalua FILE` is short for this)
  test [PATH...]       run *_test.lua files and report (`evalua test --help`)
  resume               wait for runs left unfinished by a crash or Ctrl-C
  report merge F... -o OUT   merge JSON reports from shards
  report diff BASE NEW compare two JSON reports: regressions, fixes, score deltas
  config               print the effective configuration (secrets redacted)
  repl                 interactive prompt (also `evalua` alone on a terminal)

Options:
  -e CODE              run CODE (as a script; may be given more than once)
  -v, --verbose        trace every HTTP request on stderr (secrets redacted)
  --insecure           do not verify TLS certificates (a warning is printed)
  --config FILE        configuration (default: evalua.config.lua here or above)
  --profile NAME       profile of the configuration (default $EVALUA_PROFILE)
  --env-file FILE      read KEY=VALUE lines as environment (values are secrets)
  --quiet              no progress (line or heartbeat) for runs in flight
  --progress           a progress line even when stderr is not a terminal
  --color=WHEN         colour: always, never or auto (default: on a terminal, unless NO_COLOR)
  -h, --help           this text
  --version            versions of evalua, Lua, libcurl and lua-cjson

Globals in scripts: json, http, task, poll, auth, env, secret, evalua.
Exit codes: 0 passed, 1 tests or thresholds failed, 2 usage or configuration error,
3 script error, 4 infrastructure error (network, auth, timeout), 130 interrupted.
Environment: EVALUA_PROFILE, EVALUA_LUA_DIR (load lua/ from disk), EVALUA_LIBEDIT (the REPL's
line editor; empty: none), NO_COLOR, LUA_PATH, LUA_CPATH.
See `man evalua` and docs/lua-api.md.
]==]

---------------------------------------------------------------------------
-- Globals

local function lookup(fname, name, default)
  if type(name) ~= "string" then errors.argerror(1, fname, "string expected, got " .. type(name)) end
  local v = require("evalua.config").env(name) -- the environment, else --env-file
  if v ~= nil then return v end
  if default ~= nil then return default end
  errors.raise({ kind = "config", message = ("environment variable %s is not set"):format(name),
                 where = errors.where():gsub(":%s*$", "") }, 3)
end

local function env(name, default)
  return lookup("env", name, default)
end

local function secret(name, default)
  local v = lookup("secret", name, default)
  if type(v) == "string" then redact.register(v) end
  return v
end

local interrupt_handlers = {}

local evalua = {
  version = version.versions().evalua,
  env = env, secret = secret,
  redact = redact.redact,
  register_secret = redact.register,
  errors = errors,
  verbose = false,
  on_interrupt = function(fn)
    if type(fn) ~= "function" then errors.argerror(1, "on_interrupt", "function expected, got " .. type(fn)) end
    interrupt_handlers[#interrupt_handlers + 1] = fn
  end,
}

-- Modules are loaded when a script first touches them: start-up stays fast.
local lazy = {
  json = "evalua.json", http = "evalua.http", task = "evalua.task", poll = "evalua.poll",
  auth = "evalua.auth", inspect = "evalua.inspect", fs = "evalua.fs", config = "evalua.config",
}
setmetatable(evalua, { __index = function(t, k)
  local name = lazy[k]
  if name then
    local m = require(name)
    rawset(t, k, m)
    return m
  end
end })

-- The globals that load on first use (json, http, ...); with `all`, every field of
-- `evalua` that does (evalua.inspect, evalua.config, ...). For the REPL's completion too.
function boot.lazy_globals(all)
  local out = {}
  for k in pairs(lazy) do
    if all or (k ~= "inspect" and k ~= "fs" and k ~= "config") then out[k] = true end
  end
  return out
end

-- What a script prints is masked like everything else evalua writes: print, io.write
-- and the standard streams' write method pass their text through redact first. (A
-- script's own files are its own business.)
local function mask_output()
  local raw_print, raw_write = print, io.write
  local mask = redact.redact
  local function masked(...)
    local n = select("#", ...)
    local parts = table.pack(...)
    for i = 1, n do
      local v = parts[i]
      if type(v) == "string" then parts[i] = mask(v) end
    end
    return table.unpack(parts, 1, n)
  end
  _G.print = function(...)
    local n = select("#", ...)
    local parts = table.pack(...)
    for i = 1, n do parts[i] = mask(tostring(parts[i])) end
    return raw_print(table.unpack(parts, 1, n))
  end
  io.write = function(...) return raw_write(masked(...)) end -- luacheck: ignore 122
  local meta = getmetatable(io.stdout).__index
  local file_write = meta.write
  meta.write = function(f, ...)
    if f == io.stdout or f == io.stderr then return file_write(f, masked(...)) end
    return file_write(f, ...)
  end
end

local function install_globals()
  require("evalua.coroutine").install()
  mask_output()
  package.loaded["evalua"] = evalua
  _G.evalua, _G.env, _G.secret = evalua, env, secret
  local G = boot.lazy_globals()
  setmetatable(_G, { __index = function(t, k)
    if G[k] then
      local m = evalua[k]
      rawset(t, k, m)
      return m
    end
  end })
end

---------------------------------------------------------------------------
-- Errors and exit codes


--- The exit code an error stands for.
function boot.exit_code(err)
  if errors.is(err) then
    if errors.usage_kinds[err.kind] then return EXIT.usage end
    if errors.infra_kinds[err.kind] then return EXIT.infra end
  end
  return EXIT.script
end

--- Print an uncaught error the way users read it: file:line, message, their frames.
function boot.print_error(err, tb)
  local msg
  if errors.is(err) then
    msg = tostring(err)
    local where = err.where or errors.first_user_frame(tb or err.traceback)
    if where and where ~= "" then msg = where:gsub(":?%s*$", "") .. ": " .. msg end
  elseif type(err) == "table" and not (getmetatable(err) or {}).__tostring then
    msg = "error object: " .. require("evalua.inspect").inspect(err)
  else
    msg = tostring(err)
  end
  io.stderr:write("evalua: ", redact.redact(msg), "\n")
  local shown = errors.user_traceback(tb or (type(err) == "table" and rawget(err, "traceback")))
  if shown and not (errors.is(err) and err.kind == "config") then
    io.stderr:write(redact.redact(shown), "\n")
  end
end

-- How long cancelled tasks get for their cleanups (`<close>` handlers, a run's cancel
-- request) after Ctrl-C, and each interrupt handler after that.
local CLEANUP_SECONDS, HANDLER_SECONDS = 5, 10

--- Ctrl-C or SIGTERM: every task is cancelled first and its cleanups run (bounded);
-- what is still alive then is closed; then the interrupt handlers run alone, each
-- bounded; then exit 130. A second signal exits at once (sched.c).
function boot.interrupted()
  io.stderr:write("evalua: interrupted\n")
  evalua.interrupted = true
  sched.cancel_all()
  if sched.run(nil, sched.now() + CLEANUP_SECONDS) ~= "done" then sched.kill_all() end
  if #interrupt_handlers == 0 then return EXIT.interrupted end
  local task = require "evalua.task"
  local h = task.detached(function()
    for _, fn in ipairs(interrupt_handlers) do
      local ok, err = pcall(task.timeout, HANDLER_SECONDS, fn)
      if not ok then boot.print_error(err) end
    end
  end)
  if sched.run(h.co, sched.now() + HANDLER_SECONDS * #interrupt_handlers + 1) ~= "done" then sched.kill_all() end
  return EXIT.interrupted
end

--- Run fn(...) as the main task and return the process's exit code. The main chunk
-- owns the tasks it spawns: those still running when it ends are cancelled.
function boot.run_main(fn, ...)
  local task = require "evalua.task"
  local leftovers = 0
  local h = task.detached(function(...)
    local r, left = task._in_scope(fn, ...)
    leftovers = left
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end, ...)
  local status = sched.run(h.co)
  if status == "interrupted" then return boot.interrupted() end
  if status == "stuck" then
    io.stderr:write("evalua: every task is waiting on another task and nothing else is pending (deadlock)\n")
    return EXIT.script
  end
  if leftovers > 0 then
    io.stderr:write(("evalua: the script ended with %d task%s still running; %s cancelled\n")
      :format(leftovers, leftovers == 1 and "" or "s", leftovers == 1 and "it was" or "they were"))
  end
  if not h.ok then
    boot.print_error(h.err, h.traceback)
    return boot.exit_code(h.err)
  end
  -- Detached work (a token fetch others wait for) still finishes.
  status = sched.run()
  if status == "interrupted" then return boot.interrupted() end
  local code = EXIT.ok
  for _, failed in ipairs(task._unobserved()) do
    io.stderr:write(("evalua: task %d failed and nobody waited for it:\n"):format(failed.id))
    boot.print_error(failed.err, failed.traceback)
    code = math.max(code, boot.exit_code(failed.err))
  end
  local first = h.results[1]
  if math.type(first) == "integer" and code == EXIT.ok then return first end
  return code
end

---------------------------------------------------------------------------
-- Commands

local function usage_error(msg)
  io.stderr:write("evalua: ", msg, "\n", "Try 'evalua --help'.\n")
  return EXIT.usage
end

local function print_version()
  local v = version.versions()
  io.stdout:write(("evalua %s\n%s\nlibcurl %s\nlua-cjson 2.1.0\n"):format(v.evalua, v.lua, v.curl))
  return EXIT.ok
end

local function set_arg(argv, script_index)
  local a = { [-1] = argv[0], [0] = argv[script_index] }
  for i = script_index + 1, #argv do a[#a + 1] = argv[i] end
  _G.arg = a
  evalua.args = a
  return a
end

-- Runs that scripts start are journalled too, so `evalua resume` can collect them, and
-- shown in flight on stderr (evalua.progress).
local function journal_runs()
  require("evalua.journal").open():listen()
  require("evalua.progress").start()
end

local function run_file(path, argv, index)
  local fn, err
  if path == "-" then
    fn, err = load(io.stdin:read("a"), "=stdin", "t")
  else
    local f = io.open(path, "r")
    if not f then return usage_error(("cannot open script %s: no such file or not readable"):format(path)) end
    f:close()
    fn, err = loadfile(path, "t")
  end
  if not fn then
    io.stderr:write("evalua: ", err, "\n")
    return EXIT.script
  end
  local a = set_arg(argv, index)
  journal_runs()
  return boot.run_main(fn, table.unpack(a))
end

local function run_chunks(chunks, argv, index)
  set_arg(argv, index)
  journal_runs()
  for _, code in ipairs(chunks) do
    local fn, err = load(code, "=(command line)", "t")
    if not fn then
      io.stderr:write("evalua: ", err, "\n")
      return EXIT.script
    end
    local rc = boot.run_main(fn)
    if rc ~= EXIT.ok then return rc end
  end
  return EXIT.ok
end

local function run_command(name, args)
  local ok, mod = pcall(require, "evalua.cli." .. name)
  if not ok then
    io.stderr:write("evalua: ", tostring(mod), "\n")
    return EXIT.script
  end
  local code
  local rc = boot.run_main(function() code = mod.main(args) end)
  if rc ~= EXIT.ok then return rc end
  return code or EXIT.ok
end

local commands = { test = true, resume = true, report = true, config = true }

-- Options that apply to every command (configuration, progress): `--name VALUE` or
-- `--name=VALUE`. Returns how many arguments were used (0: not one of them), or nil and
-- a message.
local VALUED = { ["--config"] = "path", ["--profile"] = "profile", ["--env-file"] = "env_file",
                 ["--color"] = "color" }
local FLAGS = { ["--quiet"] = "quiet", ["--progress"] = "progress" }
local function global_option(argv, i, settings)
  local name, inline = argv[i]:match("^(%-%-[%w-]+)=(.*)$")
  name = name or argv[i]
  if FLAGS[name] and not inline then
    settings[FLAGS[name]] = true
    return 1
  end
  local key = VALUED[name]
  if not key then return 0 end
  local value = inline or argv[i + 1]
  if value == nil or value == "" then return nil, name .. " needs a value" end
  if key == "color" and value ~= "always" and value ~= "never" and value ~= "auto" then
    return nil, ("--color expects always, never or auto, got '%s'"):format(value)
  end
  settings[key] = value
  return inline and 1 or 2
end

-- Load the configuration and set up progress once the options are known.
local function configure(settings)
  local ok, err = pcall(require("evalua.config").load, settings)
  if not ok then
    boot.print_error(err)
    return false
  end
  require("evalua.progress").configure(settings)
  return true
end

--- main(argv) -> exit code; argv[0] is the program name.
function boot.main(argv)
  install_globals()
  local i, chunks, settings = 1, {}, {}
  while argv[i] do
    local a = argv[i]
    local used, why = global_option(argv, i, settings)
    if not used then return usage_error(why) end
    if used > 0 then i = i + used - 1
    elseif a == "-h" or a == "--help" then io.stdout:write(USAGE) return EXIT.ok
    elseif a == "--version" then return print_version()
    elseif a == "-v" or a == "--verbose" then
      evalua.verbose = true
      transfer.set_verbose(true)
    elseif a == "--insecure" then evalua.http.configure { insecure = true }
    elseif a == "-e" then
      if not argv[i + 1] then return usage_error("-e needs an argument (the code to run)") end
      chunks[#chunks + 1] = argv[i + 1]
      i = i + 1
    elseif a == "--" then i = i + 1 break
    elseif a:sub(1, 1) == "-" and a ~= "-" then return usage_error("unknown option " .. a)
    else break end
    i = i + 1
  end
  local cmd = argv[i]
  local args = {}
  if #chunks == 0 and commands[cmd] then
    -- `evalua test --profile prod` too: global options may follow a command's name.
    local j = i + 1
    while argv[j] do
      if argv[j] == "--" then
        table.move(argv, j, #argv, #args + 1, args)
        break
      end
      local used, why = global_option(argv, j, settings)
      if not used then return usage_error(why) end
      if used == 0 then args[#args + 1] = argv[j] end
      j = j + math.max(used, 1)
    end
  end
  if not configure(settings) then return EXIT.usage end
  if #chunks > 0 then return run_chunks(chunks, argv, i - 1) end
  if cmd == nil then
    if require("evalua.readline").isatty(0) then
      journal_runs()
      return require("evalua.repl").main()
    end
    return run_file("-", argv, i - 1)
  end
  if cmd == "run" then
    if not argv[i + 1] then return usage_error("run needs a script: evalua run FILE [args...]") end
    return run_file(argv[i + 1], argv, i + 1)
  elseif cmd == "repl" then
    journal_runs()
    return require("evalua.repl").main()
  elseif commands[cmd] then
    return run_command(cmd, args)
  elseif cmd == "help" then
    io.stdout:write(USAGE)
    return EXIT.ok
  end
  if not cmd:find("[./]") and not require("evalua.fs").exists(cmd) then
    return usage_error(("unknown command or missing file '%s' (commands: run, test, resume, report, config, repl)"):format(cmd))
  end
  return run_file(cmd, argv, i)
end

return boot
