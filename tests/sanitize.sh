#!/bin/sh
# The Lua test suite again on an AddressSanitizer + UBSan build of evalua, as TAP (one
# line per test file). The build goes beside bin/evalua; the tests run in a shadow tree
# whose bin/evalua is that build, so they need no change.
#
#   tests/sanitize.sh               every tests/lua/*_test.lua (the randomized core test
#                                   for EVALUA_STRESS_SEEDS, default 1-8)
#   tests/sanitize.sh --stress N    only the randomized core test, for seeds 1..N, in
#                                   processes of 20 seeds each (make stress: N = 200)
set -u
stress=0
if [ "${1:-}" = "--stress" ]; then stress=${2:?--stress needs a seed count}; fi
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(cat "$repo/bin/evalua.variant" 2>/dev/null)" != release ]; then
  echo "1..0 # SKIP bin/evalua is already a sanitizer build (make check SANITIZE=...)"
  exit 0
fi
san=address,undefined
bin="$repo/build/san-address-undefined/evalua"
if ! make -s -C "$repo" SANITIZE=$san EVALUA_BIN="$bin" "$bin" > /tmp/evalua-sanitize-build.log 2>&1; then
  echo "not ok 1 - sanitizer build"
  sed 's/^/# /' /tmp/evalua-sanitize-build.log
  echo "1..1"
  exit 1
fi
shadow=$(mktemp -d)
trap 'rm -rf "$shadow"' EXIT
for d in lua tests scripts docs core; do ln -s "$repo/$d" "$shadow/$d"; done
mkdir "$shadow/bin"
ln -s "$bin" "$shadow/bin/evalua"
cd "$shadow" || exit 1
export LUA_PATH="tests/lua/?.lua;;"
# Leaks are reported at exit; a sanitizer finding fails the file with its report.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=97"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=97"
n=0 failed=0
# run FILE LABEL: one TAP line for FILE under the sanitizers (a finding fails it).
run() {
  n=$((n + 1))
  out=$(timeout 300 bin/evalua "$1" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && ! printf '%s\n' "$out" | grep -q -E -e '^not ok' -e 'ERROR: (Address|Leak)Sanitizer' -e '\.[ch]:[0-9]+:[0-9]+: runtime error:'; then
    echo "ok $n - $2 under ASan+UBSan"
  else
    failed=$((failed + 1))
    echo "not ok $n - $2 under ASan+UBSan (exit $rc)"
    # The seed line comes first: a crash or a hang still says which seed it was.
    printf '%s\n' "$out" | grep -v '^ok' | grep -v '^# seed [0-9]*: ' | tail -40 | sed 's/^/# /'
  fi
}
if [ "$stress" -gt 0 ]; then
  from=1
  while [ "$from" -le "$stress" ]; do
    to=$((from + 19)); [ "$to" -gt "$stress" ] && to=$stress
    EVALUA_STRESS_SEEDS="$from-$to" run tests/lua/core_random_test.lua "core_random_test.lua seeds $from-$to"
    from=$((to + 1))
  done
else
  for f in tests/lua/*_test.lua; do
    case $f in
      */core_random_test.lua) EVALUA_STRESS_SEEDS="${EVALUA_STRESS_SEEDS:-1-8}" run "$f" "$f (seeds ${EVALUA_STRESS_SEEDS:-1-8})" ;;
      *) run "$f" "$f" ;;
    esac
  done
fi
echo "1..$n"
[ $failed -eq 0 ]
