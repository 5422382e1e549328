#!/bin/sh
# tests/bench/suite.sh SANDBOX_URL RUNS MIN_SECONDS MAX_SECONDS WORKDIR -- a whole
# `evalua test` invocation at scale: tests/bench/suite_runs.lua with RUNS tests (one
# Agentforce run each, MIN..MAX s long in the sandbox), all of them at once (--jobs RUNS)
# and all five reporters writing to WORKDIR. Prints "name value" lines: the process's
# peak RSS, wall time, its exit status and the size of each report.
set -u
url=$1 runs=$2 lo=$3 hi=$4 work=$5
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work" && cd "$work" || exit 2
rm -rf .evalua pretty.txt report.*
curl -sf -o /dev/null -H 'content-type: application/json' -d '{}' "$url/_control/reset" &&
  curl -sf -o /dev/null -H 'content-type: application/json' \
    -d "{\"run_seconds\": [$lo, $hi], \"max_in_progress\": $((runs * 2))}" "$url/_control/config" || exit 2
SF_MY_DOMAIN=$url/sf SF_CLIENT_ID=sandbox-client-id SF_CLIENT_SECRET=sandbox-client-secret BENCH_SUITE_RUNS=$runs \
  python3 "$root/tests/bench/peak_rss.py" out.txt err.txt "$root/bin/evalua" test "$root/tests/bench/suite_runs.lua" \
    --jobs "$runs" --timeout 0 -r pretty:pretty.txt -r tap:report.tap -r junit:report.xml -r json:report.json \
    -r html:report.html
status=$?
echo "runs $runs"
for f in pretty.txt report.tap report.xml report.json report.html; do
  echo "bytes_${f#*.} $(wc -c <"$f" 2>/dev/null || echo 0)"
done
passed=$(grep -c '^ok ' report.tap 2>/dev/null)
echo "passed ${passed:-0}"
exit $status
