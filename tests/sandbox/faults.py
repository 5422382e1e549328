"""Fault injection: rules from POST /_control/faults applied before the normal handler."""

import asyncio
import json
import re
import time
from email.utils import formatdate

from common import rng_for
from http11 import Response

ACTIONS = ("status", "drop", "close-after-headers", "truncate", "delay", "html", "slow")
MAX_DELAY = 600.0
HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Error</title></head>\n<body><h1>Something went wrong</h1>\n"
             b"<p>An upstream proxy could not complete the request.</p></body></html>\n")


class FaultError(ValueError):
    """A rule the control API refuses; the message names the field."""


def retry_after_value(spec):
    """"2" -> "2"; "date:5" -> an HTTP date 5 s ahead; numbers are accepted too."""
    spec = str(spec)
    if spec.startswith("date:"):
        try:
            ahead = float(spec[5:])
        except ValueError:
            raise FaultError('retry_after "date:N" needs a number of seconds')
        return formatdate(time.time() + ahead, usegmt=True)
    return spec


class Rule:
    def __init__(self, rule_id, spec, seed):
        if not isinstance(spec, dict):
            raise FaultError("each rule must be an object")
        unknown = set(spec) - {"path", "method", "times", "skip", "rate", "action", "status", "headers",
                               "body", "retry_after", "delay", "chunks", "after", "content_type"}
        if unknown:
            raise FaultError("unknown rule field(s): %s" % ", ".join(sorted(unknown)))
        self.id = rule_id
        self.spec = spec
        try:
            self.path = re.compile(spec.get("path", ""))
        except (re.error, TypeError) as e:
            raise FaultError("path is not a valid regular expression: %s" % e)
        self.method = spec.get("method")
        if self.method is not None and not isinstance(self.method, str):
            raise FaultError("method must be a string")
        self.action = spec.get("action", "status")
        if self.action not in ACTIONS:
            raise FaultError("action must be one of %s" % ", ".join(ACTIONS))
        self.rate = spec.get("rate")
        if self.rate is not None and (isinstance(self.rate, bool) or not isinstance(self.rate, (int, float))
                                      or not 0 <= self.rate <= 1):
            raise FaultError("rate must be a number between 0 and 1")
        self.times = self._int("times", 1)
        self.skip = self._int("skip", 0)
        self.status = self._int("status", 200 if self.action == "html" else 503)
        if not 100 <= self.status <= 599:
            raise FaultError("status must be 100..599")
        self.headers = spec.get("headers") or {}
        if not isinstance(self.headers, dict) or not all(isinstance(v, (str, int, float)) for v in self.headers.values()):
            raise FaultError("headers must be an object of strings")
        body = spec.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        self.body = body
        self.content_type = spec.get("content_type")
        self.retry_after = spec.get("retry_after")
        if self.retry_after is not None:
            retry_after_value(self.retry_after)
        delay = spec.get("delay", 1.0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY:
            raise FaultError("delay must be a number of seconds between 0 and %d" % MAX_DELAY)
        self.delay = float(delay)
        self.chunks = self._int("chunks", 10) or 1
        self.after = bool(spec.get("after", False))
        self.matched = 0
        self.applied = 0
        self.rng = rng_for(seed, "fault", rule_id)

    def _int(self, key, default):
        value = self.spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultError("%s must be a non-negative integer" % key)
        return value

    def matches(self, req):
        if self.method is not None and self.method.upper() != req.method:
            return False
        return self.path.search(req.path) is not None

    def fires(self):
        """Count one matching request; True when this one is faulted."""
        self.matched += 1
        if self.matched <= self.skip:
            return False
        if self.rate is not None:
            hit = self.rng.random() < self.rate
        else:
            hit = self.applied < self.times
        if hit:
            self.applied += 1
        return hit

    def spent(self):
        return self.rate is None and self.applied >= self.times

    def to_json(self):
        out = dict(self.spec)
        out.update(id=self.id, matched=self.matched, applied=self.applied)
        return out


class Faults:
    def __init__(self, seed):
        self.seed = seed
        self.rules = []
        self.next_id = 1

    def clear(self):
        self.rules = []

    def add(self, specs):
        """Validate all, then append; returns the new rules."""
        if not isinstance(specs, list):
            raise FaultError('"rules" must be a list')
        new = []
        for spec in specs:
            new.append(Rule(self.next_id + len(new), spec, self.seed))
        self.next_id += len(new)
        self.rules.extend(new)
        return new

    def pick(self, req):
        """The first live rule that matches and fires for this request, or None."""
        for rule in self.rules:
            if not rule.spent() and rule.matches(req) and rule.fires():
                return rule
        return None

    async def apply(self, rule, thunk, service):
        """Produce the faulted response; `thunk` runs the normal handler when the fault needs it."""
        action = rule.action
        if action == "status":
            return self._status_response(rule, service)
        if action == "html":
            return Response(rule.status, HTML_PAGE, self._headers(rule), content_type="text/html; charset=utf-8")
        if action == "drop" and not rule.after:
            return Response(200, b"", mode="drop")
        if action == "delay":
            await asyncio.sleep(rule.delay)
        resp = thunk()
        if asyncio.iscoroutine(resp):
            resp = await resp
        if action == "drop":
            return Response(200, b"", mode="drop")
        if resp.mode in ("stream", "chunked", "slow"):
            resp = await _materialize(resp)
        if action in ("close-after-headers", "truncate"):
            resp.mode = action
        elif action == "slow":
            resp.mode = "slow"
            resp.chunks = rule.chunks
            resp.interval = rule.delay / rule.chunks
        return resp

    def _headers(self, rule):
        headers = [(k, str(v)) for k, v in rule.headers.items()]
        if rule.retry_after is not None:
            headers.append(("Retry-After", retry_after_value(rule.retry_after)))
        return headers

    def _status_response(self, rule, service):
        if rule.body is not None:
            ctype = rule.content_type
            if ctype is None:
                try:
                    json.loads(rule.body)
                    ctype = "application/json"
                except ValueError:
                    ctype = "text/plain; charset=utf-8"
            resp = Response(rule.status, rule.body.encode("utf-8"), content_type=ctype)
        elif rule.status in (204, 304):
            resp = Response(rule.status, b"", content_type=None)
        elif service is not None:
            resp = service.error(rule.status)
        else:
            resp = Response(rule.status, json.dumps({"status": rule.status}).encode())
        names = {k.lower() for k, _ in self._headers(rule)}
        resp.headers = [(k, v) for k, v in resp.headers if k.lower() not in names] + self._headers(rule)
        return resp


async def _materialize(resp):
    """Turn a streamed/chunked/trickled response into a plain one so a fault can mangle its body."""
    if resp.mode == "stream":
        buf = bytearray()

        async def collect(data):
            buf.extend(data)
        await resp.producer(collect)
        resp.body = bytes(buf)
        resp.producer = None
        resp.length = None
    resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "transfer-encoding"]
    resp.mode = None
    return resp
