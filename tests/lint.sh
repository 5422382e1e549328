#!/bin/sh
# luacheck over the Lua library, tests and scripts, as one TAP test.
cd "$(dirname "$0")/.." || exit 1
if out=$(luacheck -q --formatter plain lua tests/lua scripts 2>&1); then
  echo "ok 1 - luacheck is clean"
else
  echo "not ok 1 - luacheck is clean"
  echo "$out" | sed 's/^/# /'
fi
echo "1..1"
