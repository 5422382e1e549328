-- The command line: exit codes, error messages that point at the user's file,
-- help and version, arg, env and secret, the REPL, Ctrl-C, and the binary alone.
local t = require "tap"
local shell = require "shell"

local sh = shell.sh

local tmp = os.tmpname()
local function script(text)
  local f = assert(io.open(tmp, "w"))
  f:write(text)
  f:close()
  return tmp
end

local out, code = sh("bin/evalua --help")
t.ok(code == 0 and out:find("usage: evalua") and out:find("Exit codes"), "--help prints usage, exit 0")
out, code = sh("bin/evalua --version")
t.ok(code == 0 and out:find("evalua %d") and out:find("Lua 5%.4") and out:find("libcurl") and out:find("cjson"),
  "--version names evalua, Lua, libcurl, cjson")
out, code = sh("bin/evalua --frobnicate")
t.ok(code == 2 and out:find("unknown option %-%-frobnicate"), "unknown flag: exit 2 with its name")
out, code = sh("bin/evalua frobnicate")
t.ok(code == 2 and out:find("unknown command or missing file 'frobnicate'"), "unknown command: exit 2")
out, code = sh("bin/evalua run /nonexistent/x.lua")
t.ok(code == 2 and out:find("cannot open script /nonexistent/x.lua"), "missing script: exit 2 naming it")

out, code = sh("bin/evalua " .. script("local x = = 1\n"))
t.ok(code == 3 and out:find(tmp .. ":1: unexpected symbol", 1, true), "syntax error: file:line, exit 3")

out, code = sh("bin/evalua " .. script("local function f()\n  error('bad thing')\nend\nf()\n"))
t.ok(code == 3, "runtime error: exit 3")
t.ok(out:find(tmp .. ":2: bad thing", 1, true), "runtime error message has file:line")
local first_frame = out:match("stack traceback:\n%s*([^\n]+)")
t.ok(first_frame and first_frame:find(tmp, 1, true), "the traceback starts in the user's file")
t.ok(not out:find("lua/evalua/"), "no evalua internals in the traceback")

out, code = sh("bin/evalua " .. script("http.get('http://127.0.0.1:1/', {retry = false})\n"))
t.ok(code == 4 and out:find(tmp .. ":1: connect error: GET http://127.0.0.1:1/", 1, true),
  "uncaught transport error: exit 4, file:line and URL")

out, code = sh("bin/evalua " .. script("print(select('#', ...), arg[0] ~= nil, arg[1], arg[2], ...)\n") .. " a b")
t.ok(code == 0 and out:find("2\ttrue\ta\tb\ta\tb"), "arg and ... hold the script's arguments")
out, code = sh("bin/evalua -e 'print(1 + 1)' -e 'print(evalua.version)'")
t.ok(code == 0 and out:find("^2\n%d+%.%d+%.%d+\n"), "-e runs chunks in order")
out, code = sh("echo 'print(\"from stdin\")' | bin/evalua")
t.ok(code == 0 and out:find("from stdin"), "a script on standard input runs when stdin is not a terminal")
code = select(2, sh("bin/evalua -e 'return 7'"))
t.is(code, 7, "a script returning an integer sets the exit code")

out, code = sh("env -u EVALUA_NO_SUCH bin/evalua -e 'print(secret(\"EVALUA_NO_SUCH\"))'")
t.ok(code == 2 and out:find("environment variable EVALUA_NO_SUCH is not set") and out:find("%(command line%):1"),
  "missing variable for a secret: exit 2 naming it and the line")
out, code = sh("EVALUA_T=hello bin/evalua -e 'print(env(\"EVALUA_T\"), env(\"EVALUA_NO_SUCH\", \"dflt\"))'")
t.ok(code == 0 and out:find("hello\tdflt"), "env with value and with default")
out, code = sh("EVALUA_S=topsecretvalue bin/evalua -e 'local s = secret(\"EVALUA_S\") error(\"failed with \" .. s)'")
t.ok(code == 3 and out:find("failed with %*%*%*") and not out:find("topsecretvalue"), "secrets are redacted in errors")
out, code = sh([[EVALUA_S='Mix&Case$ecret' bin/evalua -e 'local s = secret("EVALUA_S") print("p", s) ]]
  .. [[io.write("w ", s, "\n") io.stdout:write("o ", s:lower(), "\n") io.stderr:write("e ", s, "\n")']])
t.ok(code == 0 and not out:find("Mix&Case", 1, true) and not out:lower():find("mix&case", 1, true)
  and select(2, out:gsub("%*%*%*", "")) == 4, "what a script prints (print, io.write, the standard streams) is masked")

out, code = sh("bin/evalua -e 'task.spawn(function() error(\"lost\") end) task.sleep(0.05)'")
t.ok(code == 3 and out:find("nobody waited for it") and out:find("lost"), "an unobserved task error is reported, exit 3")
out, code = sh("bin/evalua -e 'local h = task.spawn(function() task.sleep(5) print(\"bg done\") end)'")
t.ok(code == 0 and not out:find("bg done") and out:find("ended with 1 task still running; it was cancelled"),
  "the main chunk owns its tasks: one left running is cancelled when it ends, and that is said")
out, code = sh("bin/evalua -e 'local h = task.detached(function() task.sleep(0.05) print(\"bg done\") end)'")
t.ok(code == 0 and out:find("bg done"), "detached tasks finish before exit")

-- Ctrl-C: exit 130, quickly, with a message.
out, code = sh("bin/evalua -e 'task.sleep(30)' & pid=$!; sleep 0.3; kill -INT $pid; wait $pid")
t.ok(code == 130 and out:find("interrupted"), "SIGINT stops the script with exit 130")
out, code = sh([[bin/evalua -e 'evalua.on_interrupt(function() print("handler ran") end) task.sleep(30)' &
  pid=$!; sleep 0.3; kill -INT $pid; wait $pid]])
t.ok(code == 130 and out:find("handler ran"), "on_interrupt handlers run before exit")

-- The REPL, fed through a pipe.
out, code = sh("printf '1 + 1\\nt = {a = 1,\\nb = {2}}\\nt\\nprint(\"x\")\\nerror(\"oops\")\\ntask.sleep(0.01) return \"slept\"\\n' | bin/evalua repl")
t.ok(code == 0, "repl exits 0 at end of input")
t.like(out, "\n?2\n", "expressions are printed")
t.like(out, "a = 1,", "tables print as indented text")
t.like(out, "oops", "errors are printed and the REPL goes on")
t.like(out, '"slept"', "a line can wait (top-level I/O)")
out = sh("printf 'local t = {} t.t = t return t\\n' | bin/evalua repl")
t.like(out, "<cycle>", "cycles are shown, not followed")

-- The binary alone, away from the source tree.
local dir = os.tmpname()
os.remove(dir)
sh("mkdir -p " .. dir .. " && cp bin/evalua " .. dir .. "/")
out, code = sh("cd " .. dir .. " && env -u EVALUA_LUA_DIR ./evalua -e 'print(json.encode{ok=true}, task ~= nil)'")
t.ok(code == 0 and out:find('{"ok":true}\ttrue'), "bin/evalua copied alone still runs (embedded Lua)")
sh("rm -rf " .. dir)
out, code = sh("EVALUA_LUA_DIR=/nonexistent bin/evalua -e 'print(http ~= nil)'")
t.ok(code == 0 and out:find("true"), "a wrong EVALUA_LUA_DIR falls back to the embedded library")

-- Users' own modules on LUA_PATH.
local moddir = os.tmpname()
os.remove(moddir)
sh("mkdir -p " .. moddir)
local f = assert(io.open(moddir .. "/mymod.lua", "w"))
f:write("return { hello = function() return 'hi from mymod' end }\n")
f:close()
out, code = sh("LUA_PATH='" .. moddir .. "/?.lua;;' bin/evalua -e 'print(require(\"mymod\").hello())'")
t.ok(code == 0 and out:find("hi from mymod"), "LUA_PATH modules load")
out = sh("LUA_PATH='" .. moddir .. "/?.lua;;' bin/evalua -e 'print(require(\"evalua.http\") == http)'")
t.like(out, "true", "require 'evalua.http' is the http global")
sh("rm -rf " .. moddir)
os.remove(tmp)
t.done()
