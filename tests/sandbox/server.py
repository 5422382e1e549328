#!/usr/bin/env python3
"""evalua's sandbox: a local test double of Salesforce Agentforce, Future AGI, Kapso and Glow.

    python3 tests/sandbox/server.py [--port 0] [--seed 42] [--exit-with-parent] [--verbose]

Binds 127.0.0.1, prints its base URL (http://127.0.0.1:PORT) as the first line of stdout,
then serves until SIGTERM/SIGINT (exit 0).  See README.md for everything it answers.
"""

import argparse
import asyncio
import collections
import os
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True  # keep tests/sandbox/ free of __pycache__ when imported below

from agentforce import Agentforce  # noqa: E402
from common import SERVICES, Context  # noqa: E402
from faults import FaultError, Faults  # noqa: E402
from futureagi import FutureAGI  # noqa: E402
from generic import Generic  # noqa: E402
from glow import Glow  # noqa: E402
from http11 import MAX_HEADER_BYTES, json_response, serve_connection  # noqa: E402
from kapso import Kapso  # noqa: E402

LOG_SIZE = 100_000
LOGGED_HEADERS = ("authorization", "x-api-key", "x-secret-key", "content-type", "content-length",
                  "transfer-encoding", "accept", "user-agent", "x-bypass-cache", "x-mcp", "expect",
                  "connection", "idempotency-key", "x-request-id")
SECRET_HEADERS = ("x-api-key", "x-secret-key")
SECRET_QUERY_KEYS = ("client_secret", "client_id", "password", "access_token", "token", "api_key", "secret_key")


def redact_headers(headers):
    out = {}
    for name in LOGGED_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if name == "authorization":
            scheme, _, rest = value.partition(" ")
            value = (scheme + " [REDACTED]") if rest else "[REDACTED]"
        elif name in SECRET_HEADERS:
            value = "[REDACTED]"
        out[name] = value
    return out


def redact_query(qs):
    if not qs:
        return ""
    parts = []
    for part in qs.split("&"):
        key, eq, _ = part.partition("=")
        parts.append(key + "=[REDACTED]" if eq and key.lower() in SECRET_QUERY_KEYS else part)
    return "&".join(parts)


class App:
    """Routes a request to the control API, a service or the generic endpoints, with faults,
    latency, counters and the request log around it."""

    def __init__(self, ctx, verbose=False):
        self.ctx = ctx
        self.verbose = verbose
        self.stats = ctx.stats
        self.faults = Faults(ctx.seed)
        self.log = collections.deque(maxlen=LOG_SIZE)
        self.seq = 0
        self.generic = Generic(ctx)
        self.services = {"agentforce": Agentforce(ctx), "futureagi": FutureAGI(ctx),
                         "kapso": Kapso(ctx), "glow": Glow(ctx)}
        self.by_segment = {}
        for svc in [self.generic] + list(self.services.values()):
            for prefix in svc.prefixes:
                self.by_segment[prefix.strip("/")] = svc

    async def handle(self, req):
        path = req.path
        if path.startswith("/_control"):
            return self.control(req)
        t0 = time.monotonic()
        svc = self.by_segment.get(path[1:].split("/", 1)[0])
        if svc is None:
            template = "<unmatched>"
            thunk = lambda: json_response(404, {"error": "not found", "path": path})  # noqa: E731
        else:
            thunk, template = svc.resolve(req)
        self.stats.count(req.method + " " + template)
        rule = self.faults.pick(req) if self.faults.rules else None
        latency = self.ctx.config.latency(svc.name if svc else None)
        try:
            if latency > 0:
                await asyncio.sleep(latency)
            if rule is not None:
                resp = await self.faults.apply(rule, thunk, svc if svc is not self.generic else None)
            else:
                resp = thunk()
                if asyncio.iscoroutine(resp):
                    resp = await resp
        except Exception:  # a bug in an emulator must answer 500, not kill the connection silently
            traceback.print_exc(file=sys.stderr)
            resp = svc.error(500) if svc is not None else json_response(500, {"error": "internal error"})
        self.record(req, resp, rule, t0)
        return resp

    def record(self, req, resp, rule, t0):
        self.seq += 1
        entry = {"seq": self.seq, "time": round(time.time(), 6), "method": req.method, "path": req.path,
                 "query": redact_query(req.query_string),
                 "status": None if resp.mode == "drop" else resp.status,
                 "ms": round((time.monotonic() - t0) * 1000, 3), "headers": redact_headers(req.headers)}
        if resp.mode in ("drop", "close-after-headers", "truncate", "slow"):
            entry["mode"] = resp.mode
        if rule is not None:
            entry["fault"] = {"rule": rule.id, "action": rule.action}
        self.log.append(entry)
        if self.verbose:
            print("%s %s -> %s%s" % (req.method, req.target, resp.status,
                                     " [fault %s]" % rule.action if rule else ""), file=sys.stderr)

    # ------------------------------------------------------------ control API

    def control(self, req):
        route = (req.method, req.path.rstrip("/"))
        try:
            if route == ("POST", "/_control/reset"):
                return self.reset(req)
            if route == ("GET", "/_control/config"):
                return json_response(200, self.ctx.config.values)
            if route == ("POST", "/_control/config"):
                self.ctx.config.merge(self._json(req))
                return json_response(200, self.ctx.config.values)
            if route == ("GET", "/_control/faults"):
                return json_response(200, {"rules": [r.to_json() for r in self.faults.rules]})
            if route == ("POST", "/_control/faults"):
                body = self._json(req)
                rules = self.faults.add(body.get("rules") if isinstance(body, dict) else None)
                return json_response(200, {"rules": [r.to_json() for r in rules]})
            if route == ("DELETE", "/_control/faults"):
                self.faults.clear()
                return json_response(200, {"rules": []})
            if route == ("GET", "/_control/stats"):
                return json_response(200, self.stats_doc())
            if route == ("GET", "/_control/requests"):
                return self.requests_doc(req)
            if route == ("POST", "/_control/expire-tokens"):
                return json_response(200, {"expired": self.services["agentforce"].expire_tokens()})
            if route == ("GET", "/_control/definitions"):
                return json_response(200, {"agentforce": sorted(self.services["agentforce"].definitions)})
            if route == ("GET", "/_control/health"):
                return json_response(200, {"ok": True, "base_url": self.ctx.base_url, "seed": self.ctx.seed})
        except (ValueError, FaultError) as e:
            return json_response(400, {"error": str(e)})
        return json_response(404, {"error": "no control endpoint %s %s" % route})

    @staticmethod
    def _json(req):
        if not req.body:
            return {}
        try:
            return req.json()
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError("body is not JSON: %s" % e)

    def reset(self, req):
        body = self._json(req)
        if not (isinstance(body, dict) and body.get("keep_config")):
            self.ctx.config.reset()
        self.faults.clear()
        self.log.clear()
        self.stats.reset()
        self.generic.reset()
        for svc in self.services.values():
            svc.reset()
        return json_response(200, {"reset": True, "seq": self.seq})

    def stats_doc(self):
        pat = self.stats.polls_after_terminal
        return {"requests": self.stats.requests, "by_path": self.stats.by_path,
                "max_connections": self.stats.max_connections, "connections": self.stats.connections,
                "polls_after_terminal": sum(pat.values()), "polls_after_terminal_by_service": dict(pat),
                "runs": {name: self.services[name].run_stats() for name in SERVICES}}

    def requests_doc(self, req):
        try:
            since = int(req.query.get("since") or 0)
            limit = int(req.query.get("limit") or LOG_SIZE)
        except ValueError:
            raise ValueError("since and limit must be integers")
        entries = [e for e in self.log if e["seq"] > since][:max(0, limit)]
        return json_response(200, {"last_seq": self.seq, "requests": entries})


async def watch_parent(stop, ppid):
    """--exit-with-parent: when the parent dies we are re-parented; stop then."""
    while not stop.is_set():
        if os.getppid() != ppid:
            stop.set()
            return
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass


async def serve(args):
    ctx = Context(args.seed)
    app = App(ctx, verbose=args.verbose)

    async def on_connection(reader, writer):
        try:
            await serve_connection(reader, writer, app)
        except asyncio.CancelledError:  # shutting down: end quietly (3.11 logs cancelled stream tasks)
            pass

    server = await asyncio.start_server(on_connection, "127.0.0.1", args.port, backlog=1024,
                                        limit=MAX_HEADER_BYTES, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    ctx.base_url = "http://127.0.0.1:%d" % port
    sys.stdout.write(ctx.base_url + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(watch_parent(stop, args.ppid)) if args.exit_with_parent else None
    await stop.wait()
    server.close()
    if watcher is not None:
        watcher.cancel()


def main(argv=None):
    parser = argparse.ArgumentParser(description="evalua sandbox: local emulator of four AI-agent testing services")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one)")
    parser.add_argument("--seed", type=int, default=42, help="seed for every random choice")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when the parent process dies")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    args.ppid = os.getppid()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
