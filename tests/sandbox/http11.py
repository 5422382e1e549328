"""Minimal HTTP/1.1 server on asyncio streams: request parsing, response writing.

Only what the sandbox needs: Content-Length and chunked request bodies,
`Expect: 100-continue`, keep-alive, and a few deliberately broken ways of
answering (drop, close after headers, truncate, trickle, chunked).  No
pipelining: one request is read, answered, then the next one is read.
"""

import asyncio
import json
import time
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
WRITE_HIGH_WATER = 256 * 1024
MAX_REQUESTS_PER_CONNECTION = 10_000_000  # like nginx keepalive_requests, bounds the loop

REASONS = {s.value: s.phrase for s in HTTPStatus}


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.x request we accept."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Request:
    """One parsed request. Header names are lower-case; `query` keeps the first value of each key."""

    __slots__ = ("method", "target", "path", "query_string", "version", "headers",
                 "body", "_query", "_json")

    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        path, _, qs = target.partition("?")
        self.path = unquote(path) if "%" in path else path
        self.query_string = qs
        self.body = b""
        self._query = None
        self._json = None

    @property
    def query(self):
        if self._query is None:
            q = {}
            for k, v in parse_qsl(self.query_string, keep_blank_values=True):
                q.setdefault(k, v)
            self._query = q
        return self._query

    def json(self):
        """The body decoded as JSON; raises ValueError when it is not JSON."""
        if self._json is None:
            text = self.body.decode("utf-8")
            self._json = (json.loads(text),)
        return self._json[0]


class Response:
    """What a handler returns. `mode` selects a (mis)behaviour of the writer:

    None                 normal response
    "drop"               close the connection, write nothing
    "close-after-headers" write the head (with the full Content-Length), then close
    "truncate"           write the head and half of the body, then close
    "slow"               write the body in `chunks` pieces, `interval` seconds apart
    "chunked"            Transfer-Encoding: chunked, `chunks` pieces, `interval` apart
    "stream"             `producer(write)` is an async callable that writes `length` bytes
    """

    __slots__ = ("status", "headers", "body", "mode", "chunks", "interval", "producer", "length")

    def __init__(self, status=200, body=b"", headers=None, content_type="application/json",
                 mode=None):
        self.status = status
        self.body = body
        self.headers = list(headers or ())
        if content_type and body is not None:
            self.headers.append(("Content-Type", content_type))
        self.mode = mode
        self.chunks = 1
        self.interval = 0.0
        self.producer = None
        self.length = None

    def header(self, name, value):
        self.headers.append((name, str(value)))
        return self


def json_response(status, obj, headers=None):
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, headers)


_date_cache = [0, b""]


def _http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True).encode("ascii")
    return _date_cache[1]


def parse_head(head):
    """Parse request line and headers from the bytes up to and including CRLFCRLF."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        raise BadRequest(400, "undecodable request head")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t":
            raise BadRequest(400, "malformed header line")
        name = name.lower()
        value = value.strip()
        if name in headers:
            headers[name] = headers[name] + ", " + value
        else:
            headers[name] = value
    return Request(method, target, version, headers)


async def read_chunked(reader):
    """Read a chunked request body (trailers are read and ignored)."""
    body = bytearray()
    for _ in range(1 << 20):
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(400, "bad chunk size")
        if size == 0:
            for _ in range(1000):
                if await reader.readuntil(b"\r\n") == b"\r\n":
                    return bytes(body)
            raise BadRequest(400, "too many trailers")
        if len(body) + size > MAX_BODY_BYTES:
            raise BadRequest(413, "request body too large")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequest(400, "bad chunk terminator")
    raise BadRequest(400, "too many chunks")


def _wants_keep_alive(req):
    conn = req.headers.get("connection", "").lower()
    if req.version == "HTTP/1.0":
        return "keep-alive" in conn
    return "close" not in conn


def _head_bytes(resp, length, keep_alive, chunked=False):
    reason = REASONS.get(resp.status, "Unknown")
    out = [b"HTTP/1.1 %d %s\r\n" % (resp.status, reason.encode("latin-1")),
           b"Date: " + _http_date() + b"\r\n",
           b"Server: evalua-sandbox\r\n"]
    for name, value in resp.headers:
        out.append(("%s: %s\r\n" % (name, value)).encode("latin-1", "replace"))
    if chunked:
        out.append(b"Transfer-Encoding: chunked\r\n")
    elif length is not None:
        out.append(b"Content-Length: %d\r\n" % length)
    out.append(b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    return b"".join(out)


async def write_response(writer, req, resp, keep_alive):
    """Write `resp`; returns False when the connection must be closed afterwards."""
    mode = resp.mode
    head_only = req is not None and req.method == "HEAD"
    if mode == "drop":
        return False
    body = resp.body or b""
    if mode is None:
        if resp.status in (204, 304) or resp.status < 200:
            writer.write(_head_bytes(resp, None, keep_alive))
        else:
            writer.write(_head_bytes(resp, len(body), keep_alive) + (b"" if head_only else body))
        if writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            await writer.drain()
        return keep_alive
    length = resp.length if resp.length is not None else len(body)
    if mode == "close-after-headers":
        writer.write(_head_bytes(resp, length, False))
        await writer.drain()
        return False
    if mode == "truncate":
        writer.write(_head_bytes(resp, length, False) + body[: len(body) // 2])
        await writer.drain()
        return False
    if mode == "slow":
        writer.write(_head_bytes(resp, len(body), keep_alive))
        await _trickle(writer, body, resp.chunks, resp.interval, chunked=False)
        return keep_alive
    if mode == "chunked":
        writer.write(_head_bytes(resp, None, keep_alive, chunked=True))
        await _trickle(writer, body, resp.chunks, resp.interval, chunked=True)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep_alive
    if mode == "stream":
        writer.write(_head_bytes(resp, resp.length, keep_alive))
        if not head_only:
            async def write(data):
                writer.write(data)
                if writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                    await writer.drain()
            await resp.producer(write)
        await writer.drain()
        return keep_alive
    raise ValueError("unknown response mode %r" % (mode,))


async def _trickle(writer, body, chunks, interval, chunked):
    chunks = max(1, min(int(chunks), max(1, len(body))))
    step = -(-len(body) // chunks) if body else 0
    for i in range(chunks):
        piece = body[i * step:(i + 1) * step]
        if chunked:
            if piece:
                writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
        else:
            writer.write(piece)
        await writer.drain()
        if interval > 0 and i + 1 < chunks:
            await asyncio.sleep(interval)


async def serve_connection(reader, writer, app):
    """Read requests from one connection and answer them until it closes."""
    app.stats.connection_opened()
    try:
        for served in range(1, MAX_REQUESTS_PER_CONNECTION + 1):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                await write_response(writer, None, json_response(431, {"error": "header too large"}), False)
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            try:
                req = parse_head(head)
                if req.headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if "chunked" in req.headers.get("transfer-encoding", "").lower():
                    req.body = await read_chunked(reader)
                else:
                    length = req.headers.get("content-length")
                    if length:
                        if not length.isdigit():
                            raise BadRequest(400, "bad Content-Length")
                        n = int(length)
                        if n > MAX_BODY_BYTES:
                            raise BadRequest(413, "request body too large")
                        req.body = await reader.readexactly(n)
            except BadRequest as e:
                await write_response(writer, None, json_response(e.status, {"error": str(e)}), False)
                break
            keep_alive = _wants_keep_alive(req) and served < MAX_REQUESTS_PER_CONNECTION
            resp = await app.handle(req)
            if not await write_response(writer, req, resp, keep_alive):
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        app.stats.connection_closed()
        writer.transport.close()
