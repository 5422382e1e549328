-- The journal and report files others can shape, through bin/evalua: no symbolic link
-- followed, mode 0600 enforced, a new parent directory 0700, one resume at a time on a
-- journal (the second waits and says who holds it).
local t = require "tap"
local shell = require "shell"

local sh, read, write = shell.sh, shell.read, shell.write
local dir = sh("mktemp -d"):gsub("%s+$", "")

local function evalua(code)
  write(dir .. "/script.lua", code)
  return sh(("bin/evalua %s/script.lua"):format(dir))
end

-- symbolic links: the journal's appends and the reports refuse them
write(dir .. "/victim", "precious\n")
sh(("ln -s %s/victim %s/jlink"):format(dir, dir))
local out, code = evalua(('require("evalua.journal").open(%q):append({ event = "x", key = "k" })'):format(dir .. "/jlink"))
t.ok(code ~= 0 and out:find("jlink: it is a symbolic link (refusing to follow it)", 1, true),
  "an append to a journal that is a symbolic link is refused, naming it")
t.is(read(dir .. "/victim"), "precious\n", "and the link's target is untouched")
sh(("ln -s %s/victim %s/rlink.json"):format(dir, dir))
out, code = sh(("bin/evalua test --journal %s/j -r json:%s/rlink.json tests/runner/passing"):format(dir, dir))
t.is(code, 3, "a report path that is a symbolic link is an error (exit 3)")
t.like(out, "rlink%.json: it is a symbolic link", "naming it")
t.is(read(dir .. "/victim"), "precious\n", "and the target is untouched")
out, code = sh(("bin/evalua resume --journal %s/jlink"):format(dir))
t.ok(code == 2 and out:find("symbolic link: refusing to follow it", 1, true), "resume refuses a linked journal (exit 2)")

-- modes: a pre-existing 0644 journal becomes 0600; a new directory is 0700
write(dir .. "/wide", "")
sh("chmod 644 " .. dir .. "/wide")
evalua(('require("evalua.journal").open(%q):append({ event = "x", key = "k" })'):format(dir .. "/wide"))
t.is(sh("stat -c %a " .. dir .. "/wide"), "600\n", "a journal found with mode 0644 is made 0600")
evalua(('require("evalua.journal").open(%q):append({ event = "x", key = "k" })'):format(dir .. "/new/sub/j"))
t.is(sh("stat -c %a " .. dir .. "/new/sub"), "700\n", "a directory evalua creates for the journal is 0700")
sh(("bin/evalua test --journal %s/j -r json:%s/rdir/r.json tests/runner/passing"):format(dir, dir))
t.is(sh("stat -c %a " .. dir .. "/rdir"), "700\n", "and one it creates for a report")
t.is(sh("stat -c %a " .. dir .. "/rdir/r.json"), "600\n", "reports are 0600")

-- one resume at a time: the second waits for the first, says who holds the journal,
-- then finds what the first finished
local jpath = dir .. "/locked"
write(jpath, '{"event":"started","key":"kapso:R1","run":{"provider":"kapso","id":"R1"},"time":"t"}\n')
write(dir .. "/holder.lua", ([[
local journal = require "evalua.journal"
local lock = assert(journal.lock(%q))
io.open(%q, "w"):close()
task.sleep(2)
journal.open(%q):append({ event = "finished", key = "kapso:R1" })
lock:unlock()
]]):format(jpath, dir .. "/holding", jpath))
sh(("bin/evalua %s/holder.lua > %s/holder.out 2>&1 & echo $! > %s/holder.pid"):format(dir, dir, dir))
for _ = 1, 100 do
  if read(dir .. "/holding") then break end
  sh("sleep 0.05")
end
local holder = (read(dir .. "/holder.pid") or ""):match("%d+")
out, code = sh(("bin/evalua resume --journal %s --timeout 60s"):format(jpath), 90)
t.like(out, "locked is in use by evalua resume %(pid " .. holder .. ", since", "a second resume says who holds the journal")
t.is(code, 0, "waits for it, then")
t.like(out, "nothing to resume", "finds the run the first one finished")
code = select(2, sh(("bin/evalua resume --journal %s --list"):format(jpath)))
t.is(code, 0, "--list needs no lock")

-- a test session shares the journal: no resume collects its runs while it runs
local sj = dir .. "/shared"
write(dir .. "/session_test.lua", ([[
test("a run in flight", function()
  require("evalua.hooks").emit("run_started", { provider = "kapso", id = "S1" })
  io.open(%q, "w"):close()
  task.sleep(2)
  require("evalua.hooks").emit("run_finished", { provider = "kapso", id = "S1", status = "completed" })
end)
]]):format(dir .. "/in_session"))
sh(("bin/evalua test --journal %s %s/session_test.lua > %s/session.out 2>&1 &"):format(sj, dir, dir))
for _ = 1, 100 do
  if read(dir .. "/in_session") then break end
  sh("sleep 0.05")
end
out, code = sh(("bin/evalua resume --journal %s --timeout 60s"):format(sj), 90)
t.like(out, "shared is in use by evalua test %(pid %d+", "resume waits while a test session records runs there")
t.ok(code == 0 and out:find("nothing to resume", 1, true), "and then leaves the session's reported runs alone")
-- and a session cannot record a run while a resume holds the journal
write(dir .. "/held", "")
write(dir .. "/hold.lua", ([[
local lock = assert(require("evalua.journal").lock(%q))
io.open(%q, "w"):close()
task.sleep(3)
lock:unlock()
]]):format(dir .. "/held", dir .. "/holding2"))
sh(("bin/evalua %s/hold.lua > /dev/null 2>&1 &"):format(dir))
for _ = 1, 100 do
  if read(dir .. "/holding2") then break end
  sh("sleep 0.05")
end
out, code = sh(("bin/evalua test --journal %s/held %s/session_test.lua"):format(dir, dir), 60)
t.is(code, 3, "a test that starts a run while a resume holds the journal is an error")
t.like(out, "held is in use by evalua resume %(pid %d+", "saying who holds it")

sh("rm -rf " .. dir)
t.done()
