#!/bin/sh
# make check runs every libFuzzer target briefly (TAP); `make fuzz` runs them longer.
cd "$(dirname "$0")/.." && exec tests/fuzz/run "${FUZZ_SECONDS:-5}"
