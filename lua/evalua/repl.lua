--- repl: the interactive prompt. Each line runs as a task, so `http.get(...)` or
-- `run:wait()` work at the prompt; Ctrl-C stops the line, not the REPL.
local sched = require "evalua.sched"
local version = require "evalua.version"
local readline = require "evalua.readline"
local boot = require "evalua.boot"
local inspect = require "evalua.inspect"
local task = require "evalua.task"

local repl = {}

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
  if h.ok then show_results(h.results)
  else boot.print_error(h.err, h.traceback) end
end

function repl.main()
  local v = version.versions()
  io.stdout:write(("evalua %s (%s, libcurl %s). Globals: json http task poll auth env secret evalua. Ctrl-D exits.\n")
    :format(v.evalua, v.lua, v.curl))
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
    if source:match("%S") then
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
  if hist then readline.save_history(hist) end
  return 0
end

return repl
