-- fs.atomic_file, through bin/evalua: a file written piece by piece appears whole under
-- its name at commit, and only then; abort, close or collection of an uncommitted one
-- leaves the old file and no temporary file; a symbolic link at the path is refused.
local t = require "tap"
local shell = require "shell"

local sh, read, write = shell.sh, shell.read, shell.write
local dir = sh("mktemp -d"):gsub("%s+$", "")

-- Run Lua `code` in bin/evalua (`P` is the target path); returns its output and exit code.
local function evalua(code)
  write(dir .. "/script.lua", ("local fs = require 'evalua.fs'\nlocal P = %q\n"):format(dir .. "/out.txt") .. code)
  return sh(("bin/evalua %s/script.lua 2>&1"):format(dir))
end

local function tmp_files()
  return (sh(("ls -A %s | grep -c '\\.tmp-'; true"):format(dir)):gsub("%s+$", ""))
end

write(dir .. "/out.txt", "old\n")
local out, code = evalua([[
local f = fs.atomic_file(P)
for i = 1, 20000 do f:write(("line %d\n"):format(i)) end   -- many small pieces: past the buffer
f:write(("x"):rep(200000) .. "\n")                         -- one larger than the buffer
local before = io.open(P):read("a")
f:write("end\n")
f:commit()
print(before == "old\n" and "untouched until commit" or "changed early")
print(pcall(f.write, f, "more"))
]])
t.is(code, 0, "a streamed file is committed")
t.like(out, "untouched until commit", "the old file is in place until commit")
t.like(out, "false\t.*already committed", "writing after commit is an error")
local text = read(dir .. "/out.txt")
local expected = {}
for i = 1, 20000 do expected[#expected + 1] = ("line %d\n"):format(i) end
expected[#expected + 1] = ("x"):rep(200000) .. "\nend\n"
t.ok(text == table.concat(expected), "every piece, in order (" .. #text .. " bytes)")
t.is(sh("stat -c %a " .. dir .. "/out.txt"), "600\n", "mode 0600")
t.is(tmp_files(), "0", "no temporary file left")

write(dir .. "/out.txt", "old\n")
out, code = evalua([[
local a = fs.atomic_file(P)
a:write("new")
a:abort()
do
  local b <close> = fs.atomic_file(P)
  b:write("new")
end
local c = fs.atomic_file(P)
c:write("new")
c = nil
collectgarbage()
collectgarbage()
local d = fs.atomic_file(P)
d:write("interrupted")
error("the writer failed")
]])
t.ok(code ~= 0 and out:find("the writer failed", 1, true), "a script that fails mid-write")
t.is(read(dir .. "/out.txt"), "old\n", "abort, close, collection and an error leave the old file")
t.is(tmp_files(), "0", "and no temporary file")

sh(("ln -s %s/victim %s/link.txt"):format(dir, dir))
write(dir .. "/victim", "precious\n")
out, code = evalua(("fs.atomic_file(%q)"):format(dir .. "/link.txt"))
t.ok(code ~= 0 and out:find("link.txt: it is a symbolic link (refusing to follow it)", 1, true),
  "a symbolic link at the path is refused, naming it")
t.is(read(dir .. "/victim"), "precious\n", "and its target is untouched")
out, code = evalua(("fs.atomic_file(%q)"):format(dir .. "/missing/x.txt"))
t.ok(code ~= 0 and out:find("cannot create " .. dir .. "/missing/x.txt.tmp-", 1, true), "a missing directory: named")

sh("rm -rf " .. dir)
t.done()
