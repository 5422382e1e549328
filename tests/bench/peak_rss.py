#!/usr/bin/env python3
"""Run a command, its stdout and stderr to files, and print its peak RSS (the kernel's
ru_maxrss of the waited-for child) and wall time as "name value" lines.

    peak_rss.py OUT ERR CMD...      exits with CMD's status
"""
import resource
import subprocess
import sys
import time

out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
t0 = time.monotonic()
with open(out, "wb") as o, open(err, "wb") as e:
    rc = subprocess.call(cmd, stdout=o, stderr=e)
print("seconds %.2f" % (time.monotonic() - t0))
print("peak_rss_kb %d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print("exit_status %d" % rc)
sys.exit(rc)
