#!/bin/sh
# The four services, one ready script each, against the sandbox ($1).
base=$1
export SF_MY_DOMAIN="$base/sf" SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret
export FI_BASE_URL="$base/fi" FI_API_KEY=fi-test-key FI_SECRET_KEY=fi-test-secret
export KAPSO_BASE_URL="$base/kapso/api/v1" KAPSO_API_KEY=kapso-test-key
export GLOW_BASE_URL="$base/glow" GLOW_TOKEN=glow-test-token
status=0
run() {
  echo
  echo "\$ evalua run $*"
  bin/evalua run "$@"
  rc=$?
  echo "(exit $rc)"
  [ $rc -le 1 ] || status=$rc     # 1 = the agent failed expectations: shown, not a demo failure
}
run scripts/agentforce.lua --definition Guest_Experience_Agent --wait 2m
run scripts/agentforce.lua --definition Billing_Agent_Regressions --wait 2m --min-pass-rate 0.5
run scripts/futureagi.lua --run-test d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30 --wait 2m
run scripts/kapso.lua --case ca5e0000-0000-4000-8000-000000000001 --case ca5e0000-0000-4000-8000-000000000004 --pass-score 8
run scripts/glow.lua --benchmark b3e1a7c0-0000-4000-8000-000000000001 --wait 2m
run scripts/glow-grade.lua --benchmark b3e1a7c0-0000-4000-8000-000000000002 --grader scripts/examples/glow_grader.lua --wait 2m
exit $status
