-- The REPL: completion of globals, fields and methods (the completer, and libedit's Tab
-- in a real terminal under tmux), `:help`, and the warning with the run ids when
-- leaving with runs in flight.
local t = require "tap"
local shell = require "shell"

local dir = shell.tmpdir()
local envs = ("HOME=%s EVALUA_JOURNAL=%s/journal "):format(dir, dir)

-- The completer itself
local out = shell.sh([[bin/evalua -e '
local c = require("evalua.repl").complete
local r = require("evalua.model").run { id = "R" }
_G.r = r
print(table.concat(c("evalua.ver"), " "))
print(table.concat(c("ht"), " "))
print(table.concat(c("http.g"), " "))
print(table.concat(c("r:ca"), " "))
print(table.concat(c("r:"), " "):find("r:cases") == nil, table.concat(c("r."), " "):find("r.cases") ~= nil)
print(table.concat(c("funct"), " "))
print(#c("nosuchthing."), #c("1 +"))
print(table.concat(c("evalua.co"), " "))
']])
local lines = {}
for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
t.is(lines[1], "evalua.verbose evalua.version", "fields of a table after '.'")
t.is(lines[2], "http", "a global not loaded yet (lazy) is offered")
t.is(lines[3], "http.get", "fields of a lazily loaded module")
t.is(lines[4], "r:case", "methods after ':' from the metatable chain")
t.is(lines[5], "true\ttrue", "':' offers only functions, '.' the fields too")
t.is(lines[6], "function", "keywords")
t.is(lines[7], "0\t0", "nothing for an unknown name or an expression")
t.is(lines[8], "evalua.config", "fields of evalua that load on first use")

-- :help and leaving with runs in flight, through a pipe
out = shell.sh("printf ':help\\n:help evalua.providers.kapso\\n:help nosuch\\n:frob\\n"
  .. "require(\"evalua.hooks\").emit(\"run_started\", {provider = \"kapso\", id = \"RUN-7\", status = \"running\"})\\n' | "
  .. envs .. "bin/evalua repl")
t.like(out, "Globals:", ":help lists the globals")
t.ok(out:find("evalua.providers.agentforce", 1, true) and out:find("evalua.providers.glow", 1, true),
  ":help lists the provider modules")
t.like(out, "evalua%.providers%.kapso %(table%): [^\n]*connect", ":help NAME lists what a module holds")
t.like(out, "no global or module named nosuch", ":help of an unknown name says so")
t.like(out, "unknown command :frob", "an unknown : command says so")
t.like(out, "leaving with 1 run in flight: kapso:RUN%-7", "leaving with a run in flight: a warning with its id")
t.like(out, "evalua resume", "and how to collect it")
local journal = shell.read(dir .. "/journal") or ""
t.ok(journal:find('"RUN-7"', 1, true) and not journal:find('"finished"', 1, true), "the run stays journalled, unfinished")
out = shell.sh("printf '1 + 1\\n' | " .. envs .. "bin/evalua repl")
t.ok(not out:find("in flight", 1, true), "no warning without runs in flight")

-- libedit is loaded only when the REPL starts; without it, plain lines still work
out = shell.sh("printf 'x = 20\\nreturn x + 22\\n' | EVALUA_LIBEDIT= " .. envs .. "bin/evalua repl")
t.like(out, "> > 42\n", "without libedit: the prompt, and each line runs")
out = shell.sh("printf 'return 1\\n' | EVALUA_LIBEDIT=/nonexistent/libedit.so " .. envs .. "bin/evalua repl")
t.like(out, "> 1\n", "a libedit that cannot be loaded: plain lines too")
local maps = shell.sh([[bin/evalua -e 'local f = io.open("/proc/self/maps") print(f:read("a")) f:close()']])
t.ok(maps:find("libcurl", 1, true) and not maps:find("libedit", 1, true), "a script does not load libedit")

-- REPL waits show the progress line: a run started on one line, waited for on the next
local sandbox = require "sandbox"
local base = sandbox.start()
local ok, err = pcall(function()
  sandbox.control("config", { run_seconds = 3 })
  out = shell.sh(("printf 'sf = require(\"evalua.agentforce\").connect {}\nr = sf:start(\"Order_Support_All_Pass\")\n"
    .. "r:wait { interval = \"4s\" } return r.status\n' | SF_MY_DOMAIN=%s/sf SF_CLIENT_ID=sandbox-client-id "
    .. "SF_CLIENT_SECRET=sandbox-client-secret %sbin/evalua --progress repl 2>&1"):format(base, envs), 60)
  -- polls 4 s apart: "2s" or "3s" is shown only if the line is redrawn between polls
  t.ok(out:find("\r\27[K1 run in flight: agentforce:[%w]+ %a+ [23]s") and out:find('"completed"', 1, true),
    "a REPL wait redraws (every second) the line of a run an earlier line started")
  t.ok(not out:find("leaving with", 1, true), "a run waited for to the end is not in flight when leaving")
end)
sandbox.stop()
if not ok then t.ok(false, "sandbox checks: " .. tostring(err)) end

-- Tab in a real terminal (tmux), bounded in time
if not os.execute("command -v tmux >/dev/null 2>&1") then
  t.diag("tmux not installed: terminal checks skipped")
else
  local sock = dir .. "/tmux.sock"
  local function tmux(args) return shell.sh(("tmux -S %s %s"):format(sock, args), 20) end
  local function screen() return (tmux("capture-pane -p -t s")) end
  local function wait_for(text, tries)
    for _ = 1, tries or 100 do
      local s = screen()
      if s:find(text, 1, true) then return s end
      os.execute("sleep 0.1")
    end
    return screen()
  end
  -- Keys typed before libedit reads a line may be dropped (it resets the terminal):
  -- send the next keys only once an empty prompt is the last line on the screen.
  local function prompt()
    for _ = 1, 150 do
      if screen():gsub("%s+$", ""):match("\n>$") then return true end
      os.execute("sleep 0.1")
    end
  end
  tmux(("new-session -d -s s -x 150 -y 40 \"cd %s && %s%s/bin/evalua repl; echo REPL-EXITED; sleep 30\"")
    :format(os.getenv("PWD"), envs, os.getenv("PWD")))
  t.like(wait_for("Ctrl-D exits"), "Tab completes", "the REPL starts in tmux")
  prompt()
  tmux("send-keys -t s 'evalua.vers' Tab")
  t.like(wait_for("evalua.version"), "> evalua%.version", "Tab completes a field")
  tmux("send-keys -t s Enter")
  t.like(wait_for('"' .. "0."), '\n"%d+%.%d+%.%d+"', "and the completed line runs")
  prompt()
  tmux("send-keys -t s 'x = setmetatable({}, {__index = {wait = function() return \"waited\" end}})' Enter")
  prompt()
  tmux("send-keys -t s 'x:wa' Tab")
  t.like(wait_for("x:wait"), "> x:wait", "Tab completes a method")
  tmux("send-keys -t s '()' Enter")
  t.like(wait_for('"waited"'), '"waited"', "the completed method call runs")
  prompt()
  tmux("send-keys -t s 'require(\"evalua.hooks\").emit(\"run_started\", {provider = \"glow\", id = \"G-1\", status = \"running\"})' Enter")
  prompt()
  tmux("send-keys -t s C-d")
  local s = wait_for("REPL-EXITED", 150)
  t.ok(s:find("leaving with 1 run in flight: glow:G-1", 1, true), "Ctrl-D with a run in flight warns in the terminal")
  tmux("kill-server")
end

os.execute("rm -rf " .. dir)
t.done()
