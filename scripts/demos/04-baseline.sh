#!/bin/sh
# Baselines and live progress: a script's wait with the progress line, then the same
# suite run twice (the second time the agent answers worse) and `evalua report diff`
# between the two JSON reports. The diff exits 1 on purpose (a regression); anything
# above 1 is a demo failure.
base=$1
export SF_MY_DOMAIN="$base/sf" SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret
mkdir -p reports/baseline
echo "\$ evalua --progress run scripts/agentforce.lua --definition Order_Support_All_Pass"
bin/evalua --progress run scripts/agentforce.lua --definition Order_Support_All_Pass || exit 2
# One suite; DEFINITION says which agent it tests (a stand-in for "before/after a change").
cat > reports/baseline/support_test.lua <<'LUA'
local agentforce = require "evalua.agentforce"
test("support agent", function()
  local run = agentforce.connect({}):start(os.getenv("DEFINITION")):wait({ timeout = "2m" })
  expect(run):to_be_completed()
end)
LUA
for side in base new; do
  case $side in base) def=Order_Support_All_Pass ;; new) def=Broken_Agent_Run_Error ;; esac
  echo "\$ DEFINITION=$def evalua test reports/baseline -r json:reports/baseline/$side.json"
  DEFINITION=$def bin/evalua test reports/baseline -r json:reports/baseline/$side.json \
    --journal reports/journal >/dev/null
  [ $? -le 1 ] || exit 2
done
echo "\$ evalua report diff reports/baseline/base.json reports/baseline/new.json -o reports/baseline/diff.html"
bin/evalua report diff reports/baseline/base.json reports/baseline/new.json -o reports/baseline/diff.html
rc=$?
echo "(exit $rc)  HTML: $(pwd)/reports/baseline/diff.html"
[ $rc -le 1 ]
