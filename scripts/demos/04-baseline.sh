#!/bin/sh
# Baselines and live progress: a script's wait with the progress line, then the same
# suite run twice: first from a good agent, saved as the baseline (--save-baseline);
# then the agent answers worse and the suite is judged against the baseline
# (--baseline: its no_worse_than threshold fails, saying by how much), and
# `evalua report diff` shows what changed, from the JSON reports and from the journal.
# The regressed run and the diffs exit 1 on purpose; anything above 1 is a demo failure.
base=$1
export SF_MY_DOMAIN="$base/sf" SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret
mkdir -p reports/baseline
rm -f reports/baseline/base.json reports/baseline/journal
echo "\$ evalua --progress run scripts/agentforce.lua --definition Order_Support_All_Pass"
bin/evalua --progress run scripts/agentforce.lua --definition Order_Support_All_Pass || exit 2
# One suite; DEFINITION says which agent it tests (a stand-in for "before/after a change").
cat > reports/baseline/support_test.lua <<'LUA'
local agentforce = require "evalua.agentforce"
test("support agent", function()
  local run = agentforce.connect({}):start(os.getenv("DEFINITION")):wait({ timeout = "2m" })
  expect(run):to_be_completed()
end)
-- At most 2 points below the baseline's pass rate of topic_sequence_match.
threshold({ metrics = { topic_sequence_match = { no_worse_than = "2%" } } })
LUA
j="--journal reports/baseline/journal"
echo "\$ DEFINITION=Order_Support_All_Pass evalua test reports/baseline \\"
echo "    --save-baseline reports/baseline/base.json --baseline-missing=skip    # the first baseline"
DEFINITION=Order_Support_All_Pass bin/evalua test reports/baseline $j \
  --save-baseline reports/baseline/base.json --baseline-missing=skip >/dev/null
[ $? -eq 0 ] || exit 2
echo "\$ DEFINITION=Broken_Agent_Run_Error evalua test reports/baseline --baseline reports/baseline/base.json \\"
echo "    -r json:reports/baseline/new.json"
DEFINITION=Broken_Agent_Run_Error bin/evalua test reports/baseline $j --baseline reports/baseline/base.json \
  -r pretty -r json:reports/baseline/new.json | sed -n '/^Failures/,/^$/p'
rc=$?
[ $rc -le 1 ] || exit 2
echo "\$ evalua report diff reports/baseline/base.json reports/baseline/new.json -o reports/baseline/diff.html"
bin/evalua report diff reports/baseline/base.json reports/baseline/new.json -o reports/baseline/diff.html
rc=$?
echo "(exit $rc)  HTML: $(pwd)/reports/baseline/diff.html"
[ $rc -le 1 ] || exit 2
echo "\$ evalua report diff --journal reports/baseline/journal last~1 last --format json   # the same two runs"
bin/evalua report diff $j last~1 last --format json | grep '"regressions"'
[ $? -eq 0 ] || exit 2
