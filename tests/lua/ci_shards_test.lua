-- The CI job the issue describes, through bin/evalua and a shell: a suite sharded three
-- ways, one shard's artifact lost, the rest merged. The merge step must go red naming
-- the lost shard; with every shard it equals the unsharded run.
local t = require "tap"
local shell = require "shell"

local dir = shell.sh("mktemp -d"):gsub("%s+$", "")
local SUITE = "tests/runner/passing tests/runner/failing tests/runner/skipped"
for k = 1, 3 do
  shell.sh(("bin/evalua test --journal %s/j --shard %d/3 -r json:%s/artifacts/shard-%d.json %s > /dev/null")
    :format(dir, k, dir, k, SUITE))
end
local out, code = shell.sh(("bin/evalua report merge %s/artifacts/shard-*.json -o %s/all.xml"):format(dir, dir))
t.is(code, 1, "all three shards: the merge fails on the suite's failing tests")
t.like(out, "merged 3 reports", "and says it merged three")

os.remove(dir .. "/artifacts/shard-2.json") -- the lost artifact
out, code = shell.sh(("bin/evalua report merge %s/artifacts/shard-*.json -o %s/junit.xml"):format(dir, dir))
t.is(code, 2, "one shard lost: the merge step goes red (exit 2)")
t.like(out, "shard 2/3 is missing", "naming the lost shard")
t.ok(shell.read(dir .. "/junit.xml") == nil, "no JUnit report that CI could take for the whole suite")

shell.sh("rm -rf " .. dir)
t.done()
