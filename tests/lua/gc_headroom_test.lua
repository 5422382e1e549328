-- The collector's headroom (sched.gc_headroom, set by boot.lua): pause 150 for a small
-- heap, 120 for a large one, off once the script sets the collector itself.
local t = require "tap"
local sched = require "evalua.sched"

task.sleep(0) -- a turn of the loop sets the pause
t.is(sched.gc_headroom(), 150, "a script's small heap gets pause 150")

local hold = {} -- luacheck: ignore 241 (held, never read)
for i = 1, 400 do hold[i] = string.rep(string.char(i % 256), 128 * 1024) end -- 50 MiB
task.sleep(0)
local big = sched.gc_headroom()
t.ok(big >= 120 and big <= 122, ("a 50 MiB heap gets pause 120 (%d)"):format(big))

hold = nil -- luacheck: ignore 311
collectgarbage()
task.sleep(0)
t.is(sched.gc_headroom(), 150, "and 150 again once it is small")

collectgarbage("incremental", 200, 100)
task.sleep(0)
t.is(sched.gc_headroom(), 0, "a script that sets the collector turns it off")
t.is(collectgarbage("setpause", 200), 200, "and its pause stays as it set it")
t.done()
