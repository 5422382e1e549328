#!/bin/sh
# make check runs the benchmark scripts once at tiny sizes (TAP, no timing asserted);
# `make bench` measures for real.
cd "$(dirname "$0")/.." && exec tests/bench/run --smoke
