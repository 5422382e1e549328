#!/bin/sh
# The Lua test suite again on an AddressSanitizer + UBSan build of evalua, as TAP (one
# line per test file). The build goes beside bin/evalua; the tests run in a shadow tree
# whose bin/evalua is that build, so they need no change.
set -u
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
for f in tests/lua/*_test.lua; do
  n=$((n + 1))
  out=$(timeout 300 bin/evalua "$f" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && ! printf '%s\n' "$out" | grep -q -E -e '^not ok' -e 'ERROR: (Address|Leak)Sanitizer' -e '\.[ch]:[0-9]+:[0-9]+: runtime error:'; then
    echo "ok $n - $f under ASan+UBSan"
  else
    failed=$((failed + 1))
    echo "not ok $n - $f under ASan+UBSan (exit $rc)"
    printf '%s\n' "$out" | grep -v '^ok' | tail -40 | sed 's/^/# /'
  fi
done
echo "1..$n"
[ $failed -eq 0 ]
