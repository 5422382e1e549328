"""Shared pieces of the sandbox: clock, seeded ids, routing, configuration, counters."""

import copy
import random
import re
import time
import uuid
from datetime import datetime, timezone

from http11 import json_response

SERVICES = ("agentforce", "futureagi", "kapso", "glow")


# ---------------------------------------------------------------- time

class Clock:
    """Monotonic time for every decision, mapped onto wall time for the timestamps shown."""

    def __init__(self):
        self.mono0 = time.monotonic()
        self.wall0 = time.time()

    @staticmethod
    def now():
        return time.monotonic()

    def wall(self, mono=None):
        return self.wall0 + ((time.monotonic() if mono is None else mono) - self.mono0)


def iso(wall, fraction="s"):
    """ISO-8601 UTC: fraction "s" -> 2025-01-07T12:00:00Z, "ms" -> .000Z, "us" -> .000000Z."""
    dt = datetime.fromtimestamp(wall, timezone.utc)
    if fraction == "ms":
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)
    if fraction == "us":
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- seeded randomness and ids

def rng_for(seed, *key):
    """A Random keyed by the seed and an id, so an outcome never depends on request order."""
    return random.Random(":".join(str(k) for k in (seed,) + key))


def uuid_from(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def seeded_uuid(seed, *key):
    return uuid_from(rng_for(seed, "uuid", *key))


_SF_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sf_id(prefix, number):
    """An 18-character Salesforce id: key prefix + pod 'SM' + reserved '0' + 9 base-36 digits + checksum."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    body = ""
    for _ in range(9):
        number, r = divmod(number, 36)
        body = digits[r] + body
    id15 = (prefix + "SM0" + body)[:15]
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += _SF_CHECKSUM[bits]
    return id15 + suffix


# ---------------------------------------------------------------- routing

class Router:
    """Full-path templates like /sf/runs/{runId}/results; method "*" matches any method."""

    def __init__(self):
        self.routes = []

    def add(self, method, template, handler):
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self.routes.append((method, re.compile(pattern + r"\Z"), template, handler))

    def match(self, method, path):
        """(handler, params, template) for a match; (None, allowed_methods, None) otherwise."""
        allowed = []
        for m, rx, template, handler in self.routes:
            mo = rx.match(path)
            if mo:
                if m == method or m == "*" or (m == "GET" and method == "HEAD"):
                    return handler, mo.groupdict(), template
                allowed.append(m)
        return None, allowed, None


def page_params(query, default_size, max_size, page_key="page", size_key="limit"):
    """(page, size) from the query; ValueError when not positive integers."""
    page = int(query.get(page_key) or 1)
    size = int(query.get(size_key) or default_size)
    if page < 1 or size < 1:
        raise ValueError("page and page size must be positive")
    return page, min(size, max_size)


# ---------------------------------------------------------------- configuration

DEFAULT_CONFIG = {
    "run_seconds": 1.5,
    "services": {name: {} for name in SERVICES},
    "token_ttl": 1800,
    "max_in_progress": 10,
    "status_results_lag": 0.5,
    "agentforce_metrics": "score",
    "kapso_rate_limit": 100000,
    "futureagi_rate_limit": 0,
    "camel_case": False,
    "glow_cache_ttl": 300,
    "glow_next_runs": False,
    "latency": 0.0,
}

_SERVICE_KEYS = ("run_seconds", "latency")


def _check_seconds_spec(value, key):
    if isinstance(value, bool):
        raise ValueError("%s must be a number or [min, max]" % key)
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("%s must not be negative" % key)
        return float(value)
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and 0 <= value[0] <= value[1]):
        return [float(value[0]), float(value[1])]
    raise ValueError("%s must be a number or [min, max] with 0 <= min <= max" % key)


def _check_number(value, key, minimum=0, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValueError("%s must be a number >= %s" % (key, minimum))
    return int(value) if integer else float(value)


class Config:
    """The control API's configuration: defaults, validated merges, per-service lookups."""

    def __init__(self):
        self.values = copy.deepcopy(DEFAULT_CONFIG)

    def reset(self):
        self.values = copy.deepcopy(DEFAULT_CONFIG)

    def merge(self, patch):
        """Validate the whole patch first, then apply it; ValueError names the bad key."""
        if not isinstance(patch, dict):
            raise ValueError("config must be a JSON object")
        staged = copy.deepcopy(self.values)
        for key, value in patch.items():
            if key == "services":
                if not isinstance(value, dict):
                    raise ValueError("services must be an object")
                for svc, opts in value.items():
                    if svc not in SERVICES:
                        raise ValueError("unknown service %r (one of %s)" % (svc, ", ".join(SERVICES)))
                    if not isinstance(opts, dict):
                        raise ValueError("services.%s must be an object" % svc)
                    for k, v in opts.items():
                        if k not in _SERVICE_KEYS:
                            raise ValueError("unknown key services.%s.%s" % (svc, k))
                        if v is None:
                            staged["services"][svc].pop(k, None)
                        elif k == "run_seconds":
                            staged["services"][svc][k] = _check_seconds_spec(v, k)
                        else:
                            staged["services"][svc][k] = _check_number(v, k)
            elif key == "run_seconds":
                staged[key] = _check_seconds_spec(value, key)
            elif key in ("token_ttl", "status_results_lag", "latency", "glow_cache_ttl"):
                staged[key] = _check_number(value, key)
            elif key in ("max_in_progress", "kapso_rate_limit", "futureagi_rate_limit"):
                staged[key] = _check_number(value, key, integer=True)
            elif key in ("camel_case", "glow_next_runs"):
                if not isinstance(value, bool):
                    raise ValueError("%s must be true or false" % key)
                staged[key] = value
            elif key == "agentforce_metrics":
                if value not in ("auto", "metricScore", "score"):
                    raise ValueError('agentforce_metrics must be "auto", "metricScore" or "score"')
                staged[key] = value
            else:
                raise ValueError("unknown config key %r" % (key,))
        self.values = staged

    def __getitem__(self, key):
        return self.values[key]

    def run_seconds(self, service, rng):
        """A run's simulated duration: the service's setting, else the global one; ranges picked by `rng`."""
        spec = self.values["services"][service].get("run_seconds", self.values["run_seconds"])
        if isinstance(spec, list):
            return rng.uniform(spec[0], spec[1])
        return spec

    def latency(self, service):
        extra = self.values["services"][service].get("latency", 0.0) if service in SERVICES else 0.0
        return self.values["latency"] + extra


# ---------------------------------------------------------------- counters

class Stats:
    """Request and connection counters for /_control/stats."""

    def __init__(self):
        self.connections = 0
        self.max_connections = 0
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_path = {}
        self.polls_after_terminal = {name: 0 for name in SERVICES}
        self.max_connections = self.connections

    def connection_opened(self):
        self.connections += 1
        if self.connections > self.max_connections:
            self.max_connections = self.connections

    def connection_closed(self):
        self.connections -= 1

    def count(self, key):
        self.requests += 1
        self.by_path[key] = self.by_path.get(key, 0) + 1

    def poll_after_terminal(self, service):
        self.polls_after_terminal[service] += 1


class FixedWindow:
    """Per-key fixed one-minute windows on the monotonic clock (Kapso, Future AGI limits)."""

    def __init__(self, window=60.0):
        self.window = window
        self.t0 = time.monotonic()
        self.counts = {}

    def hit(self, key, limit):
        """Count one request; returns (allowed, remaining, seconds_to_reset)."""
        now = time.monotonic()
        index = int((now - self.t0) // self.window)
        reset_in = self.window - ((now - self.t0) % self.window)
        win, used = self.counts.get(key, (index, 0))
        if win != index:
            used = 0
        if used >= limit:
            self.counts[key] = (index, used)
            return False, 0, reset_in
        used += 1
        self.counts[key] = (index, used)
        return True, limit - used, reset_in


class Context:
    """What every service gets: seed, clock, config, counters and the public base URL."""

    def __init__(self, seed, base_url=""):
        self.seed = seed
        self.base_url = base_url
        self.clock = Clock()
        self.config = Config()
        self.stats = Stats()


def read_json_body(req):
    """Decode a JSON request body: (value, None) or (None, message)."""
    if not req.body:
        return None, "empty body"
    try:
        return req.json(), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, str(e)


class Service:
    """Base of the four service emulators: routing by full-path templates, envelopes, stats.

    A subclass sets `name` and `prefixes`, adds routes in `add_routes`, keeps its state in
    `reset`, checks credentials in `dispatch`, and builds its own error envelope in `error`.
    """

    name = ""
    prefixes = ()

    def __init__(self, ctx):
        self.ctx = ctx
        self.router = Router()
        self.add_routes()
        self.reset()

    def add_routes(self):
        raise NotImplementedError

    def reset(self):
        raise NotImplementedError

    def route_path(self, path):
        """The path the router sees (a service may normalize trailing slashes)."""
        return path

    def resolve(self, req):
        """(thunk producing the response, template for the stats key) without running anything."""
        path = self.route_path(req.path)
        handler, params, template = self.router.match(req.method, path)
        if handler is not None:
            return (lambda: self.dispatch(handler, req, params)), template
        if params:
            return (lambda: self.method_not_allowed(req, params)), self.prefixes[0] + " <method not allowed>"
        return (lambda: self.not_found(req)), self.prefixes[0] + " <unmatched>"

    def dispatch(self, handler, req, params):
        return handler(req, **params)

    def error(self, status, message=None):
        raise NotImplementedError

    def not_found(self, req):
        return self.error(404)

    def method_not_allowed(self, req, allowed):
        return self.error(405).header("Allow", ", ".join(sorted(set(allowed))))

    def run_stats(self):
        """{"started": n, "terminal": n} for /_control/stats."""
        return {"started": 0, "terminal": 0}


__all__ = ["Service", "Clock", "iso", "rng_for", "uuid_from", "seeded_uuid", "sf_id", "Router",
           "page_params", "Config", "Stats", "FixedWindow", "Context", "json_response",
           "read_json_body", "SERVICES"]
