#!/bin/sh
# The host: tasks, HTTP and retries against the sandbox.
exec bin/evalua run scripts/concurrency.lua "$1" 500
