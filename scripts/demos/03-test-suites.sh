#!/bin/sh
# The test runner over the example suites, with the pretty reporter and an HTML report.
# The examples include seeded failures (a missed threshold, a custom check) to show how
# failures are reported, so exit 1 is expected here; anything above 1 is a demo failure.
base=$1
export SF_MY_DOMAIN="$base/sf" SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret
export SF_AGENT_ID=0XxSM00000000010AA SF_AGENT_VERSION_ID=0X9SM00000000010AA   # the sandbox's agent (conversation tests)
export FI_BASE_URL="$base/fi" FI_API_KEY=fi-test-key FI_SECRET_KEY=fi-test-secret
export KAPSO_BASE_URL="$base/kapso/api/v1" KAPSO_API_KEY=kapso-test-key
export GLOW_BASE_URL="$base/glow" GLOW_TOKEN=glow-test-token
mkdir -p reports
echo "\$ evalua test scripts/examples -r pretty -r html:reports/demo.html -r junit:reports/demo.xml"
bin/evalua test scripts/examples -r pretty -r html:reports/demo.html -r junit:reports/demo.xml \
  --journal reports/journal
rc=$?
echo "(exit $rc)"
echo "HTML report: $(pwd)/reports/demo.html   JUnit: $(pwd)/reports/demo.xml"
[ $rc -le 1 ]
