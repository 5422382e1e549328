#!/usr/bin/env python3
"""Measure the sandbox's request rate with keep-alive connections (stdlib only).

    python3 tests/sandbox/loadtest.py [--url BASE] [--connections 64] [--seconds 5] [--procs 1]
                                      [--scenario json|sf-status|fi-status|kapso-run|glow-get|mixed]

Without --url it starts its own sandbox.  Each connection sends one request at a time
(no pipelining), like an HTTP/1.1 client pool.  Prints requests/s and latency percentiles.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def http(base, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if isinstance(body, (dict, list)):
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def prepare(base, scenario):
    """Create whatever the scenario polls; returns a list of raw request byte strings to cycle through."""
    host = base.split("//", 1)[1]
    reqs = []
    if scenario in ("json", "mixed"):
        reqs.append("GET /_/json HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
    if scenario in ("sf-status", "mixed"):
        http(base, "POST", "/_control/config", {"max_in_progress": 100000, "run_seconds": 3600})
        tok = urllib.request.urlopen(urllib.request.Request(
            base + "/sf/services/oauth2/token", method="POST",
            data=b"grant_type=client_credentials&client_id=sandbox-client-id&client_secret=sandbox-client-secret"),
            timeout=10)
        token = json.loads(tok.read())["access_token"]
        auth = {"Authorization": "Bearer " + token}
        for _ in range(20):
            run = http(base, "POST", "/sfi/services/data/v63.0/einstein/ai-evaluations/runs",
                       {"aiEvaluationDefinitionName": "Order_Support_All_Pass"}, auth)
            reqs.append("GET /sfi/services/data/v63.0/einstein/ai-evaluations/runs/%s HTTP/1.1\r\nHost: %s\r\n"
                        "Authorization: Bearer %s\r\n\r\n" % (run["runId"], host, token))
    if scenario in ("kapso-run", "mixed"):
        run = http(base, "POST", "/kapso/api/v1/test_cases/ca5e0000-0000-4000-8000-000000000001/test_runs",
                   {"agent_test_run": {}}, {"X-API-Key": "kapso-test-key"})
        reqs.append("GET /kapso/api/v1/test_runs/%s HTTP/1.1\r\nHost: %s\r\nX-API-Key: kapso-test-key\r\n\r\n"
                    % (run["data"]["id"], host))
    if scenario in ("fi-status", "mixed"):
        keys = {"X-Api-Key": "fi-test-key", "X-Secret-Key": "fi-test-secret"}
        rt = "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"
        http(base, "POST", "/fi/simulate/run-tests/%s/execute/" % rt, {}, keys)
        reqs.append("GET /fi/simulate/run-tests/%s/status/ HTTP/1.1\r\nHost: %s\r\nX-Api-Key: fi-test-key\r\n"
                    "X-Secret-Key: fi-test-secret\r\n\r\n" % (rt, host))
    if scenario in ("glow-get", "mixed"):
        test = http(base, "POST", "/glow/api/v5/artifacts/test/start",
                    {"benchmark_id": "b3e1a7c0-0000-4000-8000-000000000001"},
                    {"Authorization": "Bearer glow-test-token"})
        body = json.dumps({"test_id": test["test_id"]})
        reqs.append("POST /glow/api/v5/artifacts/test/get HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer glow-test-token"
                    "\r\nX-Bypass-Cache: 1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (host, len(body), body))
    return [r.encode() for r in reqs]


async def worker(host, port, requests, deadline, latencies, offset):
    reader, writer = await asyncio.open_connection(host, port)
    count = 0
    i = offset
    while time.monotonic() < deadline:
        raw = requests[i % len(requests)]
        i += 1
        t0 = time.monotonic()
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 2"):
            raise RuntimeError("unexpected answer: %r" % head[:80])
        latencies.append(time.monotonic() - t0)
        count += 1
    writer.close()
    return count


async def run_load(base, requests, connections, seconds):
    host, port = base.split("//", 1)[1].split(":")
    deadline = time.monotonic() + seconds
    latencies = []
    t0 = time.monotonic()
    counts = await asyncio.gather(*(worker(host, int(port), requests, deadline, latencies, i)
                                    for i in range(connections)))
    return sum(counts), time.monotonic() - t0, latencies


def child(args):
    base, requests, connections, seconds = args
    total, elapsed, lat = asyncio.run(run_load(base, requests, connections, seconds))
    lat.sort()
    return total, elapsed, lat[len(lat) // 2] if lat else 0, lat[int(len(lat) * 0.99)] if lat else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--procs", type=int, default=1, help="client processes (connections are split between them)")
    ap.add_argument("--scenario", default="json", choices=["json", "sf-status", "fi-status", "kapso-run", "glow-get", "mixed"])
    args = ap.parse_args()
    server = None
    base = args.url
    if base is None:
        server = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--exit-with-parent"],
                                  stdout=subprocess.PIPE, text=True)
        base = server.stdout.readline().strip()
    try:
        requests = prepare(base, args.scenario)
        per = max(1, args.connections // args.procs)
        with multiprocessing.Pool(args.procs) as pool:
            results = pool.map(child, [(base, requests, per, args.seconds)] * args.procs)
        total = sum(r[0] for r in results)
        elapsed = max(r[1] for r in results)
        stats = http(base, "GET", "/_control/stats")
        print("scenario=%s connections=%d procs=%d requests=%d seconds=%.2f rate=%.0f req/s "
              "p50=%.2fms p99=%.2fms server_max_connections=%d"
              % (args.scenario, per * args.procs, args.procs, total, elapsed, total / elapsed,
                 1000 * max(r[2] for r in results), 1000 * max(r[3] for r in results), stats["max_connections"]))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
