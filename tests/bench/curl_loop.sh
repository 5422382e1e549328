#!/bin/sh
# Throughput of the `curl` command in a shell loop: N sequential GETs, one process each
# (bodies are discarded, not decoded). Prints "rps <requests per second>".
#   tests/bench/curl_loop.sh URL N
set -eu
url=$1 n=$2
t0=$(date +%s.%N)
i=0
while [ "$i" -lt "$n" ]; do
  curl -sf -o /dev/null "$url"
  i=$((i + 1))
done
t1=$(date +%s.%N)
awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "rps %.1f\n", n / (b - a) }'
