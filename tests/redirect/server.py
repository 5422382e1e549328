#!/usr/bin/env python3
"""Two-port HTTP server for the redirect tests (tests/lua/redirect_test.lua).

Binds 127.0.0.1 on two free ports and prints "PID PORT_A PORT_B" on one line.
  GET/POST /go?to=URL&code=N   answers N with Location: URL (and the body it got ignored)
  any      /echo               answers 200 with JSON {method, path, headers, body}
  any      /loop               answers 302 to itself
  GET      /log                the requests /echo received (on either port), as a JSON array
Exits when its parent does (a crashed test leaves nothing behind), after 300 s at most.
"""
import json
import os
import sys
import time
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOG = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        if url.path == "/go":
            q = parse_qs(url.query)
            self.answer(int(q.get("code", ["302"])[0]), b"moved", [("Location", q["to"][0])])
        elif url.path == "/loop":
            self.answer(302, b"again", [("Location", "/loop")])
        elif url.path == "/echo":
            seen = {"method": self.command, "path": self.path, "port": self.server.server_port,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace")}
            with LOCK:
                LOG.append(seen)
            self.answer(200, json.dumps(seen).encode(), [("Content-Type", "application/json")])
        elif url.path == "/log":
            with LOCK:
                data = json.dumps(LOG).encode()
            self.answer(200, data, [("Content-Type", "application/json")])
        else:
            self.answer(404, b"no such path")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main():
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    parent = os.getppid()
    print(os.getpid(), " ".join(str(s.server_port) for s in servers), flush=True)
    sys.stdout.close()
    for _ in range(600):
        if os.getppid() != parent:
            break
        time.sleep(0.5)


if __name__ == "__main__":
    main()
