"""Generic endpoints under /_/ for testing an HTTP client: echo, statuses, delays, broken
responses, large, chunked and slow bodies, redirects, and keyed flaky endpoints."""

import asyncio
import json
import time
from email.utils import formatdate

from common import Service, json_response
from http11 import Response

MAX_BYTES = 1 << 30          # /_/bytes serves at most 1 GiB
MAX_DEPTH = 10_000_000       # /_/deep nests at most this deep
MAX_DELAY = 600.0            # /_/delay and /_/slow never wait longer than this in total
MAX_REDIRECTS = 1000
BLOCK = b"x" * 65536


def http_date(seconds_ahead):
    return formatdate(time.time() + seconds_ahead, usegmt=True)


def json_of_size(n):
    """A valid JSON document of exactly max(n, 2) bytes: {"data":"xxx..."} or padded {}."""
    if n < 11:
        return b"{}" + b" " * max(0, n - 2)
    return b'{"data":"' + b"x" * (n - 11) + b'"}'


def _float(value, default, lo, hi):
    try:
        return max(lo, min(hi, float(value)))
    except (TypeError, ValueError):
        return default


def _int(value, default, lo, hi):
    try:
        return max(lo, min(hi, int(value)))
    except (TypeError, ValueError):
        return default


class Generic(Service):
    name = "generic"
    prefixes = ("/_/",)

    def add_routes(self):
        r = self.router
        r.add("*", "/_/echo", self.echo)
        r.add("*", "/_/status/{code}", self.status)
        r.add("*", "/_/delay/{seconds}", self.delay)
        r.add("*", "/_/json", lambda req: json_response(200, {"status": "IN_PROGRESS", "ok": True}))
        r.add("*", "/_/drop", lambda req: Response(200, b"", mode="drop"))
        r.add("*", "/_/close-after-headers",
              lambda req: Response(200, b'{"status":"IN_PROGRESS","ok":true}', mode="close-after-headers"))
        r.add("*", "/_/truncate", lambda req: Response(200, json_of_size(200), mode="truncate"))
        r.add("*", "/_/truncated-json", self.truncated_json)
        r.add("*", "/_/bytes/{n}", self.bytes)
        r.add("*", "/_/chunked", self.chunked)
        r.add("*", "/_/slow", self.slow)
        r.add("*", "/_/html", self.html)
        r.add("*", "/_/wrong-type",
              lambda req: Response(200, b'{"status":"COMPLETED","ok":true}', content_type="text/plain"))
        r.add("*", "/_/deep", self.deep)
        r.add("*", "/_/invalid-utf8",
              lambda req: Response(200, b'{"text":"caf\xc3\xa9 \xff\xfe\xc3( invalid"}'))
        r.add("*", "/_/redirect/{n}", self.redirect)
        r.add("*", "/_/redirect-loop",
              lambda req: Response(302, b"", [("Location", "/_/redirect-loop")], content_type=None))
        r.add("*", "/_/flaky", self.flaky)
        r.add("*", "/_/count", self.count)

    def reset(self):
        self.hits = {}

    def error(self, status, message=None):
        body = {"status": status}
        if message:
            body["error"] = message
        return json_response(status, body)

    def not_found(self, req):
        return self.error(404, "no such generic endpoint: %s" % req.path)

    # ------------------------------------------------------------ handlers

    async def echo(self, req):
        """The request back as JSON. `?delay=S` answers after S seconds, `?status=N` with
        status N and `?retry_after=V` with `Retry-After: V`, so that a client's concurrent
        requests can each carry a tag (any other query key) and check the answer is theirs."""
        try:
            parsed = req.json() if req.body else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        delay = _float(req.query.get("delay"), 0.0, 0.0, MAX_DELAY)
        if delay > 0:
            await asyncio.sleep(delay)
        status = _int(req.query.get("status"), 200, 200, 599)
        headers = [("Retry-After", req.query["retry_after"])] if "retry_after" in req.query else []
        return json_response(status, {"method": req.method, "path": req.path, "query": req.query,
                                      "headers": req.headers, "body": req.body.decode("utf-8", "replace"),
                                      "json": parsed}, headers)

    def status(self, req, code):
        if not code.isdigit() or not 200 <= int(code) <= 599:
            return self.error(400, "status must be 200..599")
        code = int(code)
        headers = []
        if "retry_after" in req.query:
            headers.append(("Retry-After", req.query["retry_after"]))
        if "retry_after_date" in req.query:
            headers.append(("Retry-After", http_date(_float(req.query["retry_after_date"], 0, 0, 86400 * 365))))
        if code in (204, 304):
            return Response(code, b"", headers, content_type=None)
        return json_response(code, {"status": code}, headers)

    async def delay(self, req, seconds):
        s = _float(seconds, None, 0.0, MAX_DELAY)
        if s is None:
            return self.error(400, "delay must be a number of seconds")
        await asyncio.sleep(s)
        return json_response(200, {"delayed": s})

    def truncated_json(self, req):
        doc = json.dumps({"status": "COMPLETED", "testCases": [{"testNumber": i, "status": "COMPLETED"}
                                                               for i in range(1, 6)]}).encode()
        return Response(200, doc[: len(doc) // 2])

    def bytes(self, req, n):
        if not n.isdigit():
            return self.error(400, "n must be a byte count")
        n = min(int(n), MAX_BYTES)
        as_json = req.query.get("json") in ("1", "true")
        if as_json:
            n = max(n, 2)
        resp = Response(200, b"", content_type="application/json" if as_json else "application/octet-stream",
                        mode="stream")
        resp.length = n

        async def produce(write):
            if as_json and n >= 11:
                await write(b'{"data":"')
                left = n - 11
            elif as_json:
                await write(json_of_size(n))
                return
            else:
                left = n
            for _ in range(left // len(BLOCK) + 1):
                if left <= 0:
                    break
                piece = BLOCK if left >= len(BLOCK) else BLOCK[:left]
                await write(piece)
                left -= len(piece)
            if as_json:
                await write(b'"}')
        resp.producer = produce
        return resp

    def chunked(self, req):
        count = _int(req.query.get("n"), 3, 1, 100000)
        size = _int(req.query.get("size"), 16, 1, 1 << 20)
        as_json = req.query.get("json") in ("1", "true")
        body = json_of_size(count * size) if as_json else b"x" * (count * size)
        resp = Response(200, body, content_type="application/json" if as_json else "text/plain", mode="chunked")
        resp.chunks = count
        resp.interval = _float(req.query.get("interval"), 0.0, 0.0, MAX_DELAY / count)
        return resp

    def slow(self, req):
        chunks = _int(req.query.get("chunks"), 5, 1, 10000)
        interval = _float(req.query.get("interval"), 0.2, 0.0, MAX_DELAY / chunks)
        resp = Response(200, json_of_size(max(64, chunks)), mode="slow")
        resp.chunks = chunks
        resp.interval = interval
        return resp

    def html(self, req):
        status = _int(req.query.get("status"), 200, 200, 599)
        page = (b"<!DOCTYPE html>\n<html><head><title>503 Service Temporarily Unavailable</title></head>\n"
                b"<body><h1>Service Temporarily Unavailable</h1>\n"
                b"<p>The server is temporarily unable to service your request. Please try again later.</p>\n"
                b"<hr><address>nginx</address></body></html>\n")
        return Response(status, page, content_type="text/html; charset=utf-8")

    def deep(self, req):
        depth = _int(req.query.get("depth"), 1000, 1, MAX_DEPTH)
        return Response(200, b"[" * depth + b"]" * depth)

    def redirect(self, req, n):
        if not n.isdigit():
            return self.error(400, "n must be a count")
        n = min(int(n), MAX_REDIRECTS)
        if n == 0:
            return json_response(200, {"redirected": True})
        return Response(302, b"", [("Location", "/_/redirect/%d" % (n - 1))], content_type=None)

    def flaky(self, req):
        key = req.query.get("key", "")
        fail = _int(req.query.get("fail"), 1, 0, 1 << 30)
        status = req.query.get("status", "503")
        attempt = self.hits.get(key, 0) + 1
        self.hits[key] = attempt
        if attempt > fail:
            return json_response(200, {"key": key, "attempt": attempt})
        if status == "drop":
            return Response(200, b"", mode="drop")
        code = _int(status, 503, 200, 599)
        headers = []
        if "retry_after" in req.query:
            headers.append(("Retry-After", req.query["retry_after"]))
        return json_response(code, {"status": code, "key": key, "attempt": attempt}, headers)

    def count(self, req):
        key = req.query.get("key", "")
        return json_response(200, {"key": key, "count": self.hits.get(key, 0)})
