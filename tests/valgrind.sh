#!/bin/sh
# valgrind over a representative part of the Lua test suite (JSON, tasks, polling, HTTP,
# the token cache, two providers against the sandbox, the runner end to end with
# kill -9, Ctrl-C and resume). Prints TAP: one `ok` per test file when every evalua process it ran was
# clean (no memory error, no definite leak) and the file's own tests passed; `not ok`
# with valgrind's summary otherwise.
#
# Every process a test starts as `bin/evalua` runs under valgrind, nothing else (not the
# sandbox, not the shell): the file runs in a shadow of the checkout whose bin/evalua
# is a wrapper calling valgrind on the real one.
#
#   tests/valgrind.sh [FILE...]     (default: the representative set below)
#   VALGRIND_JOBS=2                 files run at once
#   EVALUA_TEST_TIMEOUT=600         seconds per file
#   KEEP=1                          keep the logs (the directory is printed)
set -u
cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)
if [ "$(cat bin/evalua.variant 2>/dev/null)" != release ]; then
  echo "1..0 # SKIP valgrind cannot run a sanitizer build of bin/evalua (make check SANITIZE=...)"
  exit 0
fi

if [ "${1:-}" = "--one" ]; then
  # --one WORK N FILE: run one file, leave "status" and the logs in WORK/N.
  work=$2 n=$3 file=$4
  out=$work/$n
  mkdir -p "$out/logs" "$out/shadow/bin"
  for entry in "$repo"/* "$repo"/.luacheckrc; do
    name=$(basename "$entry")
    [ "$name" = bin ] || ln -s "$entry" "$out/shadow/$name"
  done
  for entry in "$repo"/bin/*; do
    [ "$(basename "$entry")" = evalua ] || ln -s "$entry" "$out/shadow/bin/"
  done
  cat > "$out/shadow/bin/evalua" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \\
  --log-file="$out/logs/vg.%p.log" "$repo/bin/evalua" "\$@"
EOF
  chmod +x "$out/shadow/bin/evalua"
  start=$(date +%s)
  ( cd "$out/shadow" && LUA_PATH="tests/lua/?.lua;;" TMPDIR="$out" \
      timeout -k 10 "${EVALUA_TEST_TIMEOUT:-600}" bin/evalua "$file" > "$out/tap" 2>&1 )
  echo "$? $(( $(date +%s) - start ))" > "$out/status"
  exit 0
fi

if ! command -v valgrind > /dev/null 2>&1; then
  echo "not ok 1 - valgrind is installed (scripts/install-deps)"
  echo "1..1"
  exit 1
fi
[ -x bin/evalua ] || { echo "Bail out! bin/evalua is not built (make)"; exit 2; }

if [ $# -gt 0 ]; then
  files="$*"
else
  # Slowest first. Left out: cli_test and lost_test (their Ctrl-C and kill timings and
  # 100-run resume assume native speed), tooling_test (runs valgrind itself).
  files="tests/lua/runner_e2e_test.lua tests/lua/providers_agentforce_test.lua tests/lua/providers_kapso_test.lua
         tests/lua/http_test.lua tests/lua/auth_test.lua tests/lua/poll_test.lua tests/lua/task_test.lua tests/lua/task_spare_test.lua
         tests/lua/json_test.lua"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/evalua-valgrind-XXXXXX")
i=0
for f in $files; do
  i=$((i + 1))
  printf '%s %s\n' "$i" "$f"
done | xargs -P "${VALGRIND_JOBS:-2}" -L 1 "$repo/tests/valgrind.sh" --one "$work"

failed=0
i=0
for f in $files; do
  i=$((i + 1))
  out=$work/$i
  read -r rc secs < "$out/status" 2>/dev/null || { rc=none; secs=0; }
  problems="" checked=0
  # Logs of processes that ended normally carry an ERROR SUMMARY; killed ones (kill -9
  # in the resume tests) have none and prove nothing either way.
  for log in "$out"/logs/vg.*.log; do
    [ -f "$log" ] || continue
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    [ -n "$errors" ] && checked=$((checked + 1))
    if [ -n "$errors" ] && [ "$errors" -ne 0 ]; then
      problems="$problems $log"
    fi
  done
  if [ -z "$problems" ] && [ "$rc" = 0 ]; then
    echo "ok $i - valgrind clean: $f ($checked evalua processes checked, ${secs}s)"
  else
    failed=$((failed + 1))
    echo "not ok $i - valgrind clean: $f ($checked evalua processes checked, ${secs}s)"
    if [ "$rc" != 0 ]; then
      echo "# the test file exited $rc under valgrind:"
      grep -E '^not ok|^#' "$out/tap" 2>/dev/null | head -20 | sed 's/^/#   /'
      [ "$rc" = 124 ] && echo "#   (killed after ${EVALUA_TEST_TIMEOUT:-600}s)"
    fi
    for log in $problems; do
      echo "# $(sed -n 's/^==[0-9]*== Command: //p' "$log" | head -1)"
      grep -E 'Invalid|uninitialised|definitely lost|at 0x|by 0x|ERROR SUMMARY' "$log" | head -30 |
        sed 's/^==[0-9]*==/#  /'
    done
  fi
done
echo "1..$i"
if [ -n "${KEEP:-}" ]; then echo "# logs kept in $work"; else rm -rf "$work"; fi
[ "$failed" -eq 0 ]
