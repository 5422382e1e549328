#!/bin/sh
# The host: tasks, HTTP and retries against the sandbox.
exec bin/evalua run scripts/concurrency.lua --base-url "$1" --count 500
