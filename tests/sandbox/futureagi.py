"""Future AGI "simulate" API emulator: run tests, executions, per-call results, eval summaries.

Base {base}/fi; every path starts with /simulate/ and ends with a slash (a path without
it gets Django's 301 to the slashed path).  Answers are snake_case; by default unknown
(e.g. camelCase) request fields are refused like the current server does, and the
`camel_case` control switch makes it accept the older camelCase fields too.
"""

import functools
import json
import re
from urllib.parse import urlencode

from common import (FixedWindow, Service, iso, json_response, page_params, rng_for,
                    seeded_uuid)
from http11 import Response

API_KEY = "fi-test-key"
SECRET_KEY = "fi-test-secret"
ORGANIZATION_ID = "5b0c2a5e-0f3c-4c61-9d4e-2f1a7c3e9b10"
PREFIX = "/fi/simulate"
CANCEL_SECONDS = 0.3        # how long an execution stays `cancelling`
PENDING, RUNNING_END = 0.1, 0.7   # fractions of the duration: pending until 10%, calls until 70%
TERMINAL = ("completed", "failed", "cancelled")

AGENT_DEFINITIONS = {
    "87a193df-12a6-46e1-860d-d18ddb4a00cf": {
        "agent_name": "Support Voice Agent", "agent_type": "voice", "provider": "vapi",
        "active_version": "117efec9-5e9b-4e9e-9272-cf171b6e4af1",
        "versions": ["117efec9-5e9b-4e9e-9272-cf171b6e4af1"]},
    "2c7e4f0a-8d1b-4a3e-9f6c-5b2d1e0a7c34": {
        "agent_name": "Sales Chat Agent", "agent_type": "text", "provider": "custom",
        "active_version": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
        "versions": ["9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"]},
}

# rows: (customer, goal); failing: row indexes whose calls fail
SCENARIOS = {
    "fae7d086-6466-4b40-b21f-13bb7e1d83fe": {
        "name": "Refund request", "status": "completed", "failing": (),
        "rows": [("Maria Lopez", "get a refund for a late delivery"),
                 ("Tom Becker", "get a refund for a damaged blender"),
                 ("Aiko Sato", "cancel an order and get the money back")]},
    "0d6f3b8e-2a4c-4e1f-9b7d-3c5a8e1f2d40": {
        "name": "Angry customer escalation", "status": "completed", "failing": (1,),
        "rows": [("Dev Patel", "complain about being charged twice and ask for a manager"),
                 ("Lena Novak", "threaten to cancel after a third missed appointment")]},
    "7a1e9c3d-5b2f-4d8e-a6c4-9e2b7d1f3a50": {
        "name": "Unreachable phone line", "status": "completed", "failing": (0, 1),
        "rows": [("Sam Okafor", "reach support from a blocked number"),
                 ("Ines Duarte", "call during a carrier outage")]},
    "c4b8e2f6-1d3a-4c7e-8f5b-2a9d6e3c1b60": {
        "name": "Draft scenario", "status": "processing", "failing": (),
        "rows": [("Draft Person", "not ready yet")]},
}

TEMPLATES = {
    "5419b2e4-f155-4f0f-846f-0a3f848a74be": ("task_completion", "Pass/Fail"),
    "122a4e83-4c5e-4a17-bcfc-1d29affba6f9": ("is_polite", "Pass/Fail"),
    "a7c3e1f9-4b2d-4e6a-8c1f-3d9b7e5a2c10": ("conversation_quality", "score"),
    "b8d4f2a0-5c3e-4f7b-9d2a-4e0c8f6b3d20": ("customer_sentiment", "choices"),
}
TEMPLATE_BY_NAME = {name: (tid, kind) for tid, (name, kind) in TEMPLATES.items()}

SEEDED_EVAL_CONFIGS = {
    "3f9a1c7e-6b2d-4e8f-a1c5-7d3e9b2f4a60": "task_completion",
    "8b2e6d4a-1c9f-4a7e-b3d5-6e1f8a2c9d70": "is_polite",
    "e1d5a9c3-7f2b-4c6e-9a8d-4b3f1e7c2a80": "conversation_quality",
    "5c9e3a7f-2d1b-4e8c-b6a4-1f7d3e9b5c90": "customer_sentiment",
}
SEEDED_RUN_TEST_ID = "d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"

CREATE_FIELDS = ("name", "description", "agent_definition_id", "agent_version", "scenario_ids",
                 "dataset_row_ids", "eval_config_ids", "evaluations_config", "enable_tool_evaluation",
                 "replay_session_id")
PATCH_FIELDS = ("name", "description", "agent_version", "scenario_ids", "dataset_row_ids",
                "eval_config_ids", "enable_tool_evaluation", "replay_session_id")
EVAL_ITEM_FIELDS = ("template_id", "name", "config", "mapping", "filters", "error_localizer", "model",
                    "kb_id", "eval_group")
UUID_RE = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
STATUS_MESSAGES = {
    "pending": "Test execution is queued", "running": "Test execution is in progress",
    "evaluating": "Calls finished; evaluations are running", "completed": "Test execution completed",
    "failed": "Test execution failed: every call failed", "cancelling": "Test execution is being cancelled",
    "cancelled": "Test execution was cancelled"}
COLUMN_ORDER = [{"id": c, "column_name": label, "visible": True} for c, label in (
    ("scenario", "Scenario"), ("status", "Status"), ("overall_score", "Overall Score"),
    ("duration_seconds", "Duration"), ("ended_reason", "Ended Reason"), ("call_summary", "Summary"))]


def camel_to_snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def fi_error(status, code, detail, details=None, attr=None, result=None, type_=None):
    """Future AGI's one error envelope."""
    if type_ is None:
        type_ = "validation_error" if status == 400 else ("server_error" if status >= 500 else "client_error")
    body = {"status": False, "type": type_, "code": code, "detail": detail, "message": detail,
            "error": detail, "result": result}
    if attr is not None:
        body["attr"] = attr
    if details is not None:
        body["details"] = details
    return json_response(status, body)


def validation_error(details):
    attr = next(iter(details))
    first = details[attr]
    message = first[0] if isinstance(first, list) and first and isinstance(first[0], str) else "Invalid input."
    return fi_error(400, "invalid", "%s: %s" % (attr, message), details=details, attr=attr)


class EvalConfig:
    __slots__ = ("id", "name", "template_id", "kind", "config", "mapping", "model", "created_wall")

    def __init__(self, cfg_id, name, template_id, config=None, mapping=None, model=None, created_wall=0.0):
        self.id = cfg_id
        self.name = name
        self.template_id = template_id
        self.kind = TEMPLATES[template_id][1]
        self.config = config or {}
        self.mapping = mapping or {}
        self.model = model
        self.created_wall = created_wall

    def to_json(self):
        return {"id": self.id, "name": self.name, "template_id": self.template_id,
                "eval_template_name": TEMPLATES[self.template_id][0], "output_type": self.kind,
                "config": self.config, "mapping": self.mapping, "model": self.model,
                "created_at": iso(self.created_wall, "us")}


class RunTest:
    def __init__(self, rt_id, fields, created_wall):
        self.id = rt_id
        self.name = fields["name"]
        self.description = fields.get("description") or ""
        self.agent_definition = fields["agent_definition_id"]
        self.agent_version = fields.get("agent_version")
        self.scenarios = list(fields["scenario_ids"])
        self.dataset_row_ids = list(fields.get("dataset_row_ids") or [])
        self.eval_configs = []
        self.enable_tool_evaluation = bool(fields.get("enable_tool_evaluation", False))
        self.replay_session_id = fields.get("replay_session_id")
        self.created_wall = created_wall
        self.updated_wall = created_wall
        self.last_run_wall = None
        self.deleted_wall = None
        self.executions = []
        self.reported_terminal = 0      # executions whose terminal status some answer has shown


class Call:
    __slots__ = ("id", "index", "scenario_id", "row", "customer", "goal", "fails", "start", "end",
                 "duration_seconds", "transcript", "outcomes", "seed_key")

    def outcome(self, cfg):
        """(value, reason, numeric) of one eval, drawn on first use from a keyed RNG."""
        found = self.outcomes.get(cfg.id)
        if found is None:
            found = self.outcomes[cfg.id] = _eval_outcome(rng_for(*self.seed_key, cfg.id), cfg)
        return found


class Execution:
    def __init__(self, exec_id, run_test, scenario_ids, configs, t0, start_wall, duration):
        self.id = exec_id
        self.run_test = run_test
        self.scenario_ids = scenario_ids
        self.configs = configs
        self.t0 = t0
        self.start_wall = start_wall
        self.duration = duration
        self.cancelled_at = None
        self.reported_terminal = False
        self.calls = []

    def all_failed(self):
        return bool(self.calls) and all(c.fails for c in self.calls)

    def phase(self, now):
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return "cancelling" if now < self.cancelled_at + CANCEL_SECONDS else "cancelled"
        e = now - self.t0
        d = self.duration
        if e >= d:
            return "failed" if self.all_failed() else "completed"
        if e < PENDING * d:
            return "pending"
        if self.all_failed() or e < RUNNING_END * d:
            return "running"
        return "evaluating"

    def terminal_at(self):
        if self.cancelled_at is not None:
            return self.cancelled_at + CANCEL_SECONDS
        return self.t0 + self.duration

    def call_status(self, call, now):
        """(status, eval_ready) of one call at monotonic `now`."""
        e = now - self.t0
        cancelled = self.cancelled_at is not None and now >= self.cancelled_at
        if cancelled:
            e = self.cancelled_at - self.t0
        d = self.duration
        if e < PENDING * d:
            status = "pending"
        elif e < call.start * d:
            status = "queued"
        elif e < call.end * d:
            status = "ongoing"
        elif call.fails:
            status = "failed"
        elif e < (call.end + 0.05) * d:
            status = "analyzing"
        else:
            status = "completed"
        if cancelled and status not in ("completed", "failed"):
            return "cancelled", False
        n = len(self.calls)
        eval_ready = status == "completed" and (
            e >= d or e >= (RUNNING_END + (1 - RUNNING_END) * (call.index + 1) / n) * d)
        return status, eval_ready


class FutureAGI(Service):
    name = "futureagi"
    prefixes = ("/fi/",)

    def add_routes(self):
        r = self.router
        p = PREFIX
        r.add("GET", p + "/run-tests/", self.list_run_tests)
        r.add("POST", p + "/run-tests/create/", self.create)
        r.add("GET", p + "/run-tests/{rt}/", self.get_run_test)
        r.add("PATCH", p + "/run-tests/{rt}/", self.patch_run_test)
        r.add("DELETE", p + "/run-tests/{rt}/", self.delete_run_test)
        r.add("POST", p + "/run-tests/{rt}/execute/", self.execute)
        r.add("GET", p + "/run-tests/{rt}/status/", self.status)
        r.add("GET", p + "/run-tests/{rt}/executions/", self.list_executions)
        r.add("GET", p + "/run-tests/{rt}/eval-summary/", self.eval_summary)
        r.add("GET", p + "/run-tests/{rt}/eval-summary-comparison/", self.eval_summary_comparison)
        r.add("POST", p + "/run-tests/{rt}/rerun-test-executions/", self.rerun_executions)
        r.add("POST", p + "/run-tests/{rt}/eval-configs/", self.add_eval_configs)
        r.add("POST", p + "/run-tests/{rt}/eval-configs/{cfg}/update/", self.update_eval_config)
        r.add("DELETE", p + "/run-tests/{rt}/eval-configs/{cfg}/", self.delete_eval_config)
        r.add("GET", p + "/test-executions/{ex}/", self.test_execution)
        r.add("GET", p + "/test-executions/{ex}/kpis/", self.kpis)
        r.add("GET", p + "/test-executions/{ex}/performance-summary/", self.performance_summary)
        r.add("POST", p + "/test-executions/{ex}/cancel/", self.cancel)
        r.add("GET", p + "/call-executions/{call}/", self.call_execution)

    def reset(self):
        seed = self.ctx.seed
        wall = self.ctx.clock.wall()
        self.counter = 0
        self.limiter = FixedWindow()
        self.eval_configs = {cid: EvalConfig(cid, name, TEMPLATE_BY_NAME[name][0], created_wall=wall)
                             for cid, name in SEEDED_EVAL_CONFIGS.items()}
        self.executions = {}
        seeded = RunTest(SEEDED_RUN_TEST_ID, {
            "name": "Seeded regression run", "description": "Refund and escalation scenarios",
            "agent_definition_id": "87a193df-12a6-46e1-860d-d18ddb4a00cf",
            "scenario_ids": ["fae7d086-6466-4b40-b21f-13bb7e1d83fe", "0d6f3b8e-2a4c-4e1f-9b7d-3c5a8e1f2d40"]},
            wall)
        seeded.eval_configs = list(SEEDED_EVAL_CONFIGS)
        self.run_tests = {seeded.id: seeded}
        self.names = {seeded.name: seeded}     # names of run tests not deleted
        self.order = [seeded.id]
        self.seed = seed

    def _new_id(self, kind):
        self.counter += 1
        return seeded_uuid(self.seed, self.name, kind, self.counter)

    # ------------------------------------------------------------ plumbing

    def resolve(self, req):
        if not req.path.endswith("/"):
            location = req.path + "/" + ("?" + req.query_string if req.query_string else "")
            return (lambda: Response(301, b"", [("Location", location)], content_type=None)), \
                "/fi <append slash>"
        return super().resolve(req)

    def error(self, status, message=None):
        codes = {400: "invalid", 401: "not_authenticated", 403: "permission_denied", 404: "not_found",
                 405: "method_not_allowed", 429: "throttled"}
        if status == 429:
            return self._rate_limited(60)
        defaults = {401: "Authentication credentials were not provided.", 404: "Not found.",
                    405: "Method not allowed.", 500: "A server error occurred."}
        code = codes.get(status, "server_error" if status >= 500 else "error")
        return fi_error(status, code, message or defaults.get(status, "HTTP %d" % status))

    def method_not_allowed(self, req, allowed):
        return fi_error(405, "method_not_allowed", 'Method "%s" not allowed.' % req.method).header(
            "Allow", ", ".join(sorted(set(allowed))))

    def _rate_limited(self, retry_after):
        body = json_response(429, {"status": False, "result": {
            "code": "RATE_LIMITED", "message": "Rate limit exceeded. Try again in %d seconds." % retry_after,
            "retry_after": retry_after}})
        return body.header("Retry-After", retry_after)

    def dispatch(self, handler, req, params):
        api_key = req.headers.get("x-api-key")
        secret = req.headers.get("x-secret-key")
        if not api_key or not secret:
            return fi_error(401, "not_authenticated", "Authentication credentials were not provided.")
        if api_key != API_KEY or secret != SECRET_KEY:
            return fi_error(401, "authentication_failed", "Invalid API key or secret key")
        limit = self.ctx.config["futureagi_rate_limit"]
        if limit:
            allowed, _, reset_in = self.limiter.hit(ORGANIZATION_ID, limit)
            if not allowed:
                return self._rate_limited(max(1, int(reset_in + 0.999)))
        return handler(req, **params)

    def _body(self, req, allow_empty=False):
        """(dict, None) or (None, error response)."""
        if not req.body:
            if allow_empty:
                return {}, None
            return None, fi_error(400, "parse_error", "JSON parse error - Expecting value: line 1 column 1 (char 0)",
                                  type_="client_error")
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError) as e:
            return None, fi_error(400, "parse_error", "JSON parse error - %s" % e, type_="client_error")
        if not isinstance(body, dict):
            return None, validation_error({"non_field_errors": ["Invalid data. Expected a dictionary, but got %s."
                                                                % type(body).__name__]})
        return body, None

    def _normalize(self, body, allowed):
        """Map camelCase keys when the switch is on; collect unknown keys (snake_case only otherwise)."""
        out, unknown = {}, {}
        camel = self.ctx.config["camel_case"]
        for key, value in body.items():
            name = key
            if camel and key not in allowed:
                name = camel_to_snake(key)
            if name in allowed:
                out[name] = value
            else:
                unknown[key] = ["Unknown field."]
        return out, unknown

    def _run_test(self, rt_id):
        rt = self.run_tests.get(rt_id)
        return rt if rt is not None and rt.deleted_wall is None else None

    def _live_run_test(self, rt_id):
        """The run test, or the service's 404 answer when there is none (or it was deleted)."""
        run_test = self._run_test(rt_id)
        if run_test is None:
            return None, fi_error(404, "not_found", "Run test not found")
        return run_test, None

    def _page_urls(self, req, page, pages, size):
        def url(n):
            q = {k: v for k, v in req.query.items() if k not in ("page", "limit")}
            q.update(page=n, limit=size)
            return "%s%s?%s" % (self.ctx.base_url, req.path, urlencode(q))
        return (url(page + 1) if page < pages else None), (url(page - 1) if page > 1 else None)

    def _paginate(self, req, items, default_size=10, max_size=100):
        """DRF page-number pagination: (envelope, None) or (None, 404 response)."""
        try:
            page, size = page_params(req.query, default_size, max_size)
        except ValueError:
            return None, fi_error(404, "not_found", "Invalid page.")
        pages = max(1, -(-len(items) // size))
        if page > pages:
            return None, fi_error(404, "not_found", "Invalid page.")
        nxt, prev = self._page_urls(req, page, pages, size)
        return {"count": len(items), "next": nxt, "previous": prev,
                "results": items[(page - 1) * size: page * size],
                "total_pages": pages, "current_page": page}, None

    # ------------------------------------------------------------ run tests

    def _validate_eval_items(self, items, strict):
        """(configs to create as (template_id, item) list, error details or None)."""
        if not isinstance(items, list):
            return None, {"evaluations_config": ['Expected a list of items but got type "%s".' % type(items).__name__]}
        creates, item_errors = [], []
        camel = self.ctx.config["camel_case"]
        for item in items:
            errors = {}
            if not isinstance(item, dict):
                item_errors.append({"non_field_errors": ["Invalid data. Expected a dictionary."]})
                continue
            norm = {}
            for key, value in item.items():
                name = camel_to_snake(key) if camel else key
                if name in EVAL_ITEM_FIELDS:
                    norm[name] = value
                elif strict and not camel:
                    errors[key] = ["Unknown field."]
            if "template_id" not in norm:
                errors["template_id"] = ["This field is required."]
            item_errors.append(errors)
            if not errors and norm["template_id"] in TEMPLATES:
                creates.append(norm)
        if any(item_errors):
            return None, {"evaluations_config": item_errors}
        return creates, None

    def _check_refs(self, fields):
        """404 for referenced objects that do not exist, 400 for malformed UUIDs."""
        details = {}
        for key in ("agent_definition_id", "agent_version", "replay_session_id"):
            v = fields.get(key)
            if v is not None and (not isinstance(v, str) or not UUID_RE.match(v)):
                details[key] = ["Must be a valid UUID."]
        for key in ("scenario_ids", "dataset_row_ids", "eval_config_ids"):
            v = fields.get(key)
            if v is None:
                continue
            if not isinstance(v, list):
                details[key] = ['Expected a list of items but got type "%s".' % type(v).__name__]
            elif any(not isinstance(x, str) or not UUID_RE.match(x) for x in v):
                details[key] = ["Must be a valid UUID."]
        if "scenario_ids" in fields and isinstance(fields["scenario_ids"], list) and not fields["scenario_ids"]:
            details["scenario_ids"] = ["This list may not be empty."]
        if "enable_tool_evaluation" in fields and not isinstance(fields["enable_tool_evaluation"], bool):
            details["enable_tool_evaluation"] = ["Must be a valid boolean."]
        if details:
            return validation_error(details)
        agent = fields.get("agent_definition_id")
        if agent is not None and agent not in AGENT_DEFINITIONS:
            return fi_error(404, "not_found", "Agent definition not found")
        for sid in fields.get("scenario_ids") or ():
            if sid not in SCENARIOS:
                return fi_error(404, "not_found", "Scenario %s not found" % sid)
        for cid in fields.get("eval_config_ids") or ():
            if cid not in self.eval_configs:
                return fi_error(404, "not_found", "Eval config %s not found" % cid)
        return None

    def _check_name(self, name, exclude=None):
        if not isinstance(name, str) or not name.strip():
            return {"name": ["This field may not be blank."]}
        if len(name) > 255:
            return {"name": ["Ensure this field has no more than 255 characters."]}
        owner = self.names.get(name)
        if owner is not None and owner is not exclude:
            return {"name": ["run test with this name already exists."]}
        return None

    def _create_configs(self, items, wall):
        ids = []
        for item in items:
            cid = self._new_id("eval-config")
            tname = TEMPLATES[item["template_id"]][0]
            self.eval_configs[cid] = EvalConfig(cid, item.get("name") or tname, item["template_id"],
                                                item.get("config"), item.get("mapping"), item.get("model"), wall)
            ids.append(cid)
        return ids

    def create(self, req):
        body, err = self._body(req)
        if err:
            return err
        fields, unknown = self._normalize(body, CREATE_FIELDS)
        if unknown:
            return validation_error(unknown)
        missing = {k: ["This field is required."] for k in ("name", "agent_definition_id", "scenario_ids")
                   if k not in fields}
        if missing:
            return validation_error(missing)
        bad_name = self._check_name(fields["name"])
        if bad_name:
            return validation_error(bad_name)
        err = self._check_refs(fields)
        if err:
            return err
        creates, details = self._validate_eval_items(fields.get("evaluations_config") or [], strict=True)
        if details:
            return validation_error(details)
        wall = self.ctx.clock.wall()
        rt = RunTest(self._new_id("run-test"), fields, wall)
        rt.eval_configs = list(fields.get("eval_config_ids") or []) + self._create_configs(creates, wall)
        self.run_tests[rt.id] = rt
        self.names[rt.name] = rt
        self.order.append(rt.id)
        return json_response(201, self._run_test_json(rt))

    def _run_test_json(self, rt):
        agent = AGENT_DEFINITIONS[rt.agent_definition]
        return {
            "id": rt.id, "name": rt.name, "description": rt.description,
            "agent_definition": rt.agent_definition, "agent_version": rt.agent_version,
            "agent_definition_detail": {"id": rt.agent_definition, "agent_name": agent["agent_name"],
                                        "agent_type": agent["agent_type"], "provider": agent["provider"],
                                        "active_version": agent["active_version"]},
            "source_type": "agent_definition", "source_type_display": "Agent Definition",
            "scenarios": list(rt.scenarios),
            "scenarios_detail": [{"id": sid, "name": SCENARIOS[sid]["name"], "status": SCENARIOS[sid]["status"],
                                  "scenario_type": "dataset", "row_count": len(SCENARIOS[sid]["rows"])}
                                 for sid in rt.scenarios],
            "dataset_row_ids": list(rt.dataset_row_ids),
            "simulator_agent": None, "simulator_agent_detail": None,
            "simulate_eval_configs": list(rt.eval_configs),
            "simulate_eval_configs_detail": [self.eval_configs[c].to_json() for c in rt.eval_configs
                                             if c in self.eval_configs],
            "evals_detail": [],
            "organization": ORGANIZATION_ID,
            "enable_tool_evaluation": rt.enable_tool_evaluation,
            "created_at": iso(rt.created_wall, "us"), "updated_at": iso(rt.updated_wall, "us"),
            "last_run_at": iso(rt.last_run_wall, "us") if rt.last_run_wall is not None else None,
            "deleted": rt.deleted_wall is not None,
            "deleted_at": iso(rt.deleted_wall, "us") if rt.deleted_wall is not None else None,
        }

    def list_run_tests(self, req):
        search = (req.query.get("search") or "").lower()
        items = [self.run_tests[i] for i in reversed(self.order)]
        items = [rt for rt in items if rt.deleted_wall is None and search in rt.name.lower()]
        page, err = self._paginate(req, items)
        if err:
            return err
        page["results"] = [self._run_test_json(rt) for rt in page["results"]]
        return json_response(200, page)

    def get_run_test(self, req, rt):
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        return json_response(200, self._run_test_json(run_test))

    def _fields(self, req, rt, allowed):
        """(run_test, fields, None), or (None, None, error response): a run test not deleted
        and a JSON body holding only `allowed` keys."""
        run_test, err = self._live_run_test(rt)
        if err:
            return None, None, err
        body, err = self._body(req)
        if err:
            return None, None, err
        fields, unknown = self._normalize(body, allowed)
        if unknown:
            return None, None, validation_error(unknown)
        return run_test, fields, None

    def patch_run_test(self, req, rt):
        run_test, fields, err = self._fields(req, rt, PATCH_FIELDS)
        if err:
            return err
        if "name" in fields:
            bad = self._check_name(fields["name"], exclude=run_test)
            if bad:
                return validation_error(bad)
        err = self._check_refs(fields)
        if err:
            return err
        if "name" in fields:
            del self.names[run_test.name]
            self.names[fields["name"]] = run_test
        for key, value in fields.items():
            if key == "scenario_ids":
                run_test.scenarios = list(value)
            elif key == "eval_config_ids":
                run_test.eval_configs = list(value)
            elif key == "description":
                run_test.description = value or ""
            else:
                setattr(run_test, key, value)
        run_test.updated_wall = self.ctx.clock.wall()
        return json_response(200, self._run_test_json(run_test))

    def delete_run_test(self, req, rt):
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        run_test.deleted_wall = self.ctx.clock.wall()
        del self.names[run_test.name]
        # views/run_test.py RunTestDetailView.delete: a soft delete answered with a message.
        return json_response(200, {"message": "Run test deleted successfully"})

    # ------------------------------------------------------------ eval configs

    def add_eval_configs(self, req, rt):
        run_test, fields, err = self._fields(req, rt, ("evaluations_config",))
        if err:
            return err
        if "evaluations_config" not in fields:
            return validation_error({"evaluations_config": ["This field is required."]})
        creates, details = self._validate_eval_items(fields["evaluations_config"], strict=True)
        if details:
            return validation_error(details)
        ids = self._create_configs(creates, self.ctx.clock.wall())
        run_test.eval_configs.extend(ids)
        # views/run_test.py AddEvalConfigView
        return json_response(201, {
            "message": "Successfully added %d evaluation config(s) to run test" % len(ids),
            "created_eval_configs": [self.eval_configs[c].to_json() for c in ids],
            "run_test_id": run_test.id})

    def update_eval_config(self, req, rt, cfg):
        # views/run_test.py UpdateEvalConfigView (POST .../update/, serializers/requests/
        # run_test_evals.py EvalConfigUpdateRequestSerializer: unknown fields rejected).
        run_test, fields, err = self._fields(req, rt, ("name", "config", "mapping", "model", "error_localizer",
                                                       "kb_id", "template_id", "run", "test_execution_id"))
        if err:
            return err
        config = self.eval_configs.get(cfg)
        if config is None or cfg not in run_test.eval_configs:
            return fi_error(404, "not_found", "Eval config not found")
        if fields.get("template_id") is not None and fields["template_id"] not in TEMPLATES:
            return fi_error(400, "invalid", "Evaluation template not found")
        for key in ("name", "config", "mapping", "model"):
            if key in fields:
                setattr(config, key, fields[key])
        answer = {"message": "Evaluation config updated successfully", "eval_config_id": config.id,
                  "run_test_id": run_test.id}
        if fields.get("run"):
            ex = self.executions.get(fields.get("test_execution_id") or "")
            if ex is None or ex.run_test is not run_test:
                return validation_error({"test_execution_id": ["This field is required when run is true."]})
            answer.update(message="Evaluation config updated and rerun triggered successfully",
                          test_execution_id=ex.id, call_execution_count=len(ex.calls),
                          note="%d parallel tasks will be spawned to process evaluations" % len(ex.calls))
        return json_response(200, answer)

    def delete_eval_config(self, req, rt, cfg):
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        # views/run_test.py DeleteEvalConfigView: at least one config must remain.
        if len(run_test.eval_configs) <= 1:
            return fi_error(400, "invalid", "Cannot delete the last evaluation config. "
                            "At least one evaluation config must remain.")
        if cfg not in run_test.eval_configs:
            return fi_error(404, "not_found", "Evaluation config not found")
        run_test.eval_configs.remove(cfg)
        return json_response(200, {"message": "Evaluation config deleted successfully"})

    # ------------------------------------------------------------ executions

    def execute(self, req, rt):
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        body, err = self._body(req, allow_empty=True)
        if err:
            return err
        fields, unknown = self._normalize(body, ("scenario_ids", "simulator_id"))
        if unknown:
            return validation_error(unknown)
        wanted = fields.get("scenario_ids") or list(run_test.scenarios)
        if not isinstance(wanted, list):
            return validation_error({"scenario_ids": ['Expected a list of items but got type "%s".'
                                                      % type(wanted).__name__]})
        unknown_ids = [s for s in wanted if s not in run_test.scenarios]
        if unknown_ids:
            return fi_error(400, "invalid", "Scenarios %s are not part of this run test" % ", ".join(map(str, unknown_ids)))
        if not wanted:
            return fi_error(400, "invalid", "No scenarios available to execute",
                            result={"error": "No scenarios", "detail": "This run test has no scenarios."})
        not_ready = [s for s in wanted if SCENARIOS[s]["status"] != "completed"]
        if not_ready:
            detail = "Some scenarios are not ready yet. Wait for them to finish processing."
            return fi_error(400, "invalid", detail, result={
                "error": "Scenarios incomplete", "detail": detail,
                "scenarios": [{"id": s, "name": SCENARIOS[s]["name"], "status": SCENARIOS[s]["status"]}
                              for s in not_ready]})
        now = self.ctx.clock.now()
        exec_id = self._new_id("execution")
        rng = rng_for(self.seed, self.name, exec_id)
        duration = self.ctx.config.run_seconds(self.name, rng)
        configs = [self.eval_configs[c] for c in run_test.eval_configs if c in self.eval_configs]
        ex = Execution(exec_id, run_test, list(wanted), configs, now, self.ctx.clock.wall(now), duration)
        self._plan_calls(ex, rng)
        self.executions[exec_id] = ex
        run_test.executions.append(ex)
        run_test.last_run_wall = ex.start_wall
        return json_response(200, {
            "message": "Test execution started successfully", "execution_id": exec_id,
            "run_test_id": run_test.id, "status": "started", "total_scenarios": len(wanted),
            "total_calls": len(ex.calls), "scenario_ids": list(wanted)})

    def _plan_calls(self, ex, rng):
        rows = [(sid, i, row) for sid in ex.scenario_ids for i, row in enumerate(SCENARIOS[sid]["rows"])]
        n = len(rows)
        for k, (sid, i, (customer, goal)) in enumerate(rows):
            c = Call()
            c.id = seeded_uuid(self.seed, self.name, ex.id, "call", k)
            c.index = k
            c.scenario_id = sid
            c.row = i
            c.customer = customer
            c.goal = goal
            c.fails = i in SCENARIOS[sid]["failing"]
            c.start = PENDING + 0.3 * k / n
            c.end = c.start + 0.25 * (0.6 + 0.4 * rng.random())
            c.duration_seconds = round(rng.uniform(35, 180), 1)
            c.transcript = _transcript(customer, goal, c.fails)
            c.outcomes = {}
            c.seed_key = (self.seed, self.name, ex.id, c.id)
            ex.calls.append(c)

    def _exec_counts(self, ex, now):
        completed = failed = 0
        for c in ex.calls:
            s, _ = ex.call_status(c, now)
            if s == "completed":
                completed += 1
            elif s == "failed":
                failed += 1
        return completed, failed

    def _execution_json(self, ex, now):
        phase = ex.phase(now)
        completed, failed = self._exec_counts(ex, now)
        total = len(ex.calls)
        return {"id": ex.id, "run_test": ex.run_test.id, "status": phase,
                "total_scenarios": len(ex.scenario_ids), "total_calls": total,
                "completed_calls": completed, "failed_calls": failed,
                "success_rate": round(100.0 * completed / total, 2) if total else 0.0,
                "start_time": iso(ex.start_wall, "us"),
                "end_time": iso(ex.start_wall + ex.terminal_at() - ex.t0, "us") if phase in TERMINAL else None,
                "scenario_ids": list(ex.scenario_ids), "created_at": iso(ex.start_wall, "us")}

    def status(self, req, rt):
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        if not run_test.executions:
            return json_response(200, {"run_test_id": run_test.id, "status": "not_found",
                                       "error": "No test executions found for this run test"})
        ex = run_test.executions[-1]
        now = self.ctx.clock.now()
        doc = self._execution_json(ex, now)
        if run_test.reported_terminal == len(run_test.executions):
            self.ctx.stats.poll_after_terminal(self.name)
        if all(e.reported_terminal for e in run_test.executions if e is not ex):
            self._reported(ex, doc["status"])
        return json_response(200, {
            "run_test_id": run_test.id, "execution_id": ex.id, "status": doc["status"],
            "total_scenarios": doc["total_scenarios"], "total_calls": doc["total_calls"],
            "completed_calls": doc["completed_calls"], "failed_calls": doc["failed_calls"],
            "success_rate": doc["success_rate"], "start_time": doc["start_time"],
            "end_time": doc["end_time"], "message": STATUS_MESSAGES[doc["status"]]})

    def _reported(self, ex, status):
        """Poll-after-terminal accounting: the status endpoint shows only the latest execution,
        so a client waiting on an older one reads it elsewhere (test-executions/{id}/).  A status
        poll counts as after terminal only when every execution of the run test had already been
        shown terminal.  The status endpoint shows the latest execution to whoever asks -- the
        poller of an older one too -- so it counts as having shown it only when every other
        execution was already shown terminal (the question can then only be about this one)."""
        if status in TERMINAL and not ex.reported_terminal:
            ex.reported_terminal = True
            ex.run_test.reported_terminal += 1

    def list_executions(self, req, rt):
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        now = self.ctx.clock.now()
        items = [self._execution_json(ex, now) for ex in reversed(run_test.executions)]
        wanted = req.query.get("status")
        if wanted:
            items = [i for i in items if i["status"] == wanted]
        page, err = self._paginate(req, items)
        if err:
            return err
        return json_response(200, page)

    def _call_json(self, ex, call, now, detail=False):
        """One call as CallExecutionDetailSerializer shows it; the list view (detail_mode=False)
        sends `transcript: []` (serializers/test_execution.py get_transcript)."""
        status, eval_ready = ex.call_status(call, now)
        progress = 0.0
        e = (min(now, ex.cancelled_at) if ex.cancelled_at is not None else now) - ex.t0
        if status == "ongoing":
            progress = (e / ex.duration - call.start) / (call.end - call.start)
        elif status in ("analyzing", "completed", "failed"):
            progress = 1.0
        elif status == "cancelled" and e >= call.start * ex.duration:
            progress = min(1.0, (e / ex.duration - call.start) / (call.end - call.start))
        shown = call.transcript[: int(len(call.transcript) * progress + 1e-9)]
        outputs, metrics, scores = {}, {}, []
        for cfg in ex.configs:
            if call.fails and status == "failed":
                outputs[cfg.id] = {"value": None, "reason": "The call failed before it could be evaluated.",
                                   "type": cfg.kind, "name": cfg.name, "error": False,
                                   "status": "skipped", "skipped": True}
            elif eval_ready:
                value, reason, numeric = call.outcome(cfg)
                outputs[cfg.id] = {"value": value, "reason": reason, "type": cfg.kind, "name": cfg.name,
                                   "error": False, "status": "completed", "skipped": False}
                metrics[cfg.name] = numeric
                if numeric is not None:
                    scores.append(numeric)
            else:
                outputs[cfg.id] = {}
        done = status in ("completed", "failed")
        return dict({
            "id": call.id, "status": status, "scenario": SCENARIOS[call.scenario_id]["name"],
            "scenario_id": call.scenario_id, "row_index": call.row, "customer_name": call.customer,
            "overall_score": round(sum(scores) / len(scores), 2) if eval_ready and scores else None,
            "duration_seconds": call.duration_seconds if done else None,
            "transcript": [_transcript_row(call, i, row) for i, row in enumerate(shown)] if detail else [],
            "call_summary": ("The customer wanted to %s. %s" % (call.goal, "The call failed to connect."
                             if call.fails else "The agent handled the request.")) if done else None,
            "ended_reason": ("pipeline-error-twilio-failed-to-connect-call" if call.fails
                             else "customer-ended-call") if done else None,
            "eval_outputs": outputs, "eval_metrics": metrics,
            "started_at": iso(ex.start_wall + call.start * ex.duration, "us")
            if status not in ("pending", "queued") else None,
        }, **_call_usage(call, AGENT_DEFINITIONS[ex.run_test.agent_definition]["agent_type"], done))

    def test_execution(self, req, ex):
        execution = self.executions.get(ex)
        if execution is None or execution.run_test.deleted_wall is not None:
            return fi_error(404, "not_found", "Test execution not found")
        now = self.ctx.clock.now()
        calls = [self._call_json(execution, c, now) for c in execution.calls]
        search = (req.query.get("search") or "").lower()
        if search:
            calls = [c for c in calls if search in c["scenario"].lower() or search in c["id"]
                     or search in c["customer_name"].lower()]
        filters = req.query.get("filters")
        if filters:
            try:
                wanted = json.loads(filters)
                if not isinstance(wanted, list):
                    raise ValueError("Expected a JSON array.")
            except ValueError as e:
                return validation_error({"filters": [str(e)]})
            calls = [c for c in calls if all(_filter_matches(c, f) for f in wanted)]
        page, err = self._paginate(req, calls)
        if err:
            return err
        page["status"] = execution.phase(now)
        self._reported(execution, page["status"])
        page["column_order"] = COLUMN_ORDER
        page["agent_type"] = AGENT_DEFINITIONS[execution.run_test.agent_definition]["agent_type"]
        return json_response(200, page)

    def cancel(self, req, ex):
        execution = self.executions.get(ex)
        if execution is None:
            return fi_error(404, "not_found", "Test execution not found")
        now = self.ctx.clock.now()
        phase = execution.phase(now)
        if phase in TERMINAL or phase == "cancelling":
            return fi_error(400, "invalid", "Test execution cannot be cancelled in status %s" % phase,
                            result={"success": False, "test_execution_id": execution.id})
        execution.cancelled_at = now
        return json_response(200, {"success": True, "message": "Test execution cancellation initiated",
                                   "test_execution_id": execution.id})

    def eval_summary(self, req, rt):
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        exec_id = req.query.get("execution_id")
        if exec_id:
            ex = self.executions.get(exec_id)
            if ex is None or ex.run_test is not run_test:
                return fi_error(404, "not_found", "Test execution not found")
        elif run_test.executions:
            ex = run_test.executions[-1]
        else:
            return json_response(200, {"status": True, "result": []})
        now = self.ctx.clock.now()
        ready = []
        for c in ex.calls:
            status, eval_ready = ex.call_status(c, now)
            if status == "completed" and eval_ready:
                ready.append(c)
        return json_response(200, {"status": True, "result": [_summary(cfg, ready) for cfg in ex.configs]})

    def call_execution(self, req, call):
        """views/run_test.py CallExecutionDetailView: one call with its transcript (detail_mode)."""
        for ex in self.executions.values():
            for c in ex.calls:
                if c.id == call and ex.run_test.deleted_wall is None:
                    return json_response(200, self._call_json(ex, c, self.ctx.clock.now(), detail=True))
        return fi_error(404, "not_found", "Call execution not found")

    def eval_summary_comparison(self, req, rt):
        """views/run_test.py RunTestEvalSummaryComparisonView: `execution_ids` is a JSON array in
        the query; the answer maps each execution id to its eval summary."""
        run_test, err = self._live_run_test(rt)
        if err:
            return err
        try:
            ids = json.loads(req.query.get("execution_ids") or "")
            if not isinstance(ids, list) or not ids:
                raise ValueError
        except ValueError:
            return validation_error({"execution_ids": ["A non-empty JSON array of execution ids is required."]})
        now, result = self.ctx.clock.now(), {}
        for exec_id in ids:
            ex = self.executions.get(exec_id)
            if ex is None or ex.run_test is not run_test:
                return fi_error(404, "not_found", "Test execution not found")
            ready = [c for c in ex.calls if ex.call_status(c, now) == ("completed", True)]
            result[exec_id] = [_summary(cfg, ready) for cfg in ex.configs]
        return json_response(200, {"status": True, "result": result})

    def rerun_executions(self, req, rt):
        """views/run_test.py TestExecutionRerunView: eval_only or call_and_eval, for the given
        executions (or all with select_all); running ones cannot be rerun.  The sandbox
        restarts each execution's clock (its calls and evals are redone)."""
        run_test, fields, err = self._fields(req, rt, ("rerun_type", "test_execution_ids", "select_all"))
        if err:
            return err
        if fields.get("rerun_type") not in ("eval_only", "call_and_eval"):
            return validation_error({"rerun_type": ['"%s" is not a valid choice.' % fields.get("rerun_type")]})
        now = self.ctx.clock.now()
        ids = fields.get("test_execution_ids") or []
        if fields.get("select_all"):
            chosen = [ex for ex in run_test.executions if ex.id not in ids]
        else:
            chosen = [self.executions[i] for i in ids if i in self.executions
                      and self.executions[i].run_test is run_test]
        chosen = [ex for ex in chosen if ex.phase(now) in TERMINAL]
        if not chosen:
            return fi_error(400, "invalid", "No test executions found that can be rerun. "
                            "Executions in pending, running, or cancelling status cannot be rerun.")
        results = []
        for ex in chosen:
            ex.t0, ex.start_wall, ex.cancelled_at = now, self.ctx.clock.wall(now), None
            ex.reported_terminal = False
            results.append({"test_execution_id": ex.id, "success_count": len(ex.calls), "failure_count": 0,
                            "successful_reruns": [c.id for c in ex.calls], "failed_reruns": []})
        return json_response(200, {
            "message": "Bulk test execution rerun prepared and initiated successfully (%s)" % fields["rerun_type"],
            "run_test_id": run_test.id, "rerun_type": fields["rerun_type"],
            "total_test_executions": len(results), "results": results,
            "overall_success_count": sum(r["success_count"] for r in results), "overall_failure_count": 0})

    def _execution_for(self, ex):
        execution = self.executions.get(ex)
        if execution is None or execution.run_test.deleted_wall is not None:
            return None, fi_error(404, "not_found", "Test execution not found")
        return execution, None

    def kpis(self, req, ex):
        """views/run_test.py RunTestKPIsView: execution-wide averages (a subset of its fields;
        the latency, token and duration figures are the sandbox's own)."""
        execution, err = self._execution_for(ex)
        if err:
            return err
        now = self.ctx.clock.now()
        done = [c for c in execution.calls if execution.call_status(c, now)[0] in ("completed", "failed")]
        connected = [c for c in done if not c.fails]
        scores = [self._call_json(execution, c, now)["overall_score"] for c in connected]
        scores = [x for x in scores if x is not None]
        avg = lambda xs: round(sum(xs) / len(xs), 2) if xs else None  # noqa: E731
        return json_response(200, {
            "total_calls": len(execution.calls), "calls_attempted": len(done), "connected_calls": len(connected),
            "calls_connected_percentage": round(100.0 * len(connected) / len(done), 2) if done else 0,
            "avg_score": avg(scores), "avg_response": avg([c.duration_seconds / 10 for c in connected]),
            "failed_calls": len(done) - len(connected),
            "total_duration": round(sum(c.duration_seconds for c in done), 1),
            "avg_agent_latency": avg([_latency_ms(c) for c in connected]),
            "avg_total_tokens": avg([_tokens(c)[0] + _tokens(c)[1] for c in connected]),
            "avg_input_tokens": avg([_tokens(c)[0] for c in connected]),
            "avg_output_tokens": avg([_tokens(c)[1] for c in connected]),
            "agent_type": AGENT_DEFINITIONS[execution.run_test.agent_definition]["agent_type"],
            "scenario_graphs": {sid: {} for sid in execution.scenario_ids}})

    def performance_summary(self, req, ex):
        """views/run_test.py PerformanceSummaryView: pass rate over the run test's executions and
        the scenarios' average scores."""
        execution, err = self._execution_for(ex)
        if err:
            return err
        now = self.ctx.clock.now()
        finished = [e for e in execution.run_test.executions if e.phase(now) in TERMINAL]
        passed = [e for e in finished if e.phase(now) == "completed"]
        by_scenario = {}
        for c in execution.calls:
            score = self._call_json(execution, c, now)["overall_score"]
            entry = by_scenario.setdefault(c.scenario_id, {"scenario_name": SCENARIOS[c.scenario_id]["name"],
                                                            "test_count": 0, "scores": []})
            entry["test_count"] += 1
            if score is not None:
                entry["scores"].append(score)
        top = [{"scenario_name": e["scenario_name"], "test_count": e["test_count"],
                "performance_score": round(100 * sum(e["scores"]) / len(e["scores"]), 1) if e["scores"] else 0.0}
               for e in by_scenario.values()]
        top.sort(key=lambda e: -e["performance_score"])
        last = finished[-1] if finished else None
        _, failed = self._exec_counts(last, now) if last else (0, 0)
        return json_response(200, {
            "test_run_performance_metrics": {
                "pass_rate": round(100.0 * len(passed) / len(finished), 2) if finished else 0.0,
                "total_test_runs": len(execution.run_test.executions),
                "latest_fail_rate": round(100.0 * failed / len(last.calls), 2) if last and last.calls else 0.0},
            "top_performing_scenarios": top})

    def run_stats(self):
        now = self.ctx.clock.now()
        return {"started": len(self.executions),
                "terminal": sum(1 for e in self.executions.values() if e.phase(now) in TERMINAL)}


def _latency_ms(call):
    """The sandbox's own figure for a call's average agent latency."""
    return 700 + 10 * call.index


def _tokens(call):
    """(input, output) tokens of a chat call: the sandbox's own figures."""
    return 250 + 15 * call.index, 150 + 10 * call.index


def _call_usage(call, agent_type, done):
    """Latency, tokens and cost of a finished call as CallExecutionDetailSerializer sends them
    (future-agi/future-agi futureagi/simulate/serializers/test_execution.py; the model fields
    in simulate/models/test_execution.py): avg_agent_latency(_ms) and response_time(_ms) for
    voice calls, avg_latency_ms and the token counts (conversation_metrics_data) for chat
    calls, cost_cents ("Cost of the call in cents", an integer) for both; null until the call
    ends and for a call that never connected (only its cost, 0, is known)."""
    voice, chat = agent_type == "voice", agent_type == "text"
    ok = done and not call.fails
    latency = _latency_ms(call) if ok else None
    tokens_in, tokens_out = _tokens(call) if ok and chat else (None, None)
    return {
        "avg_agent_latency": latency if voice else None, "avg_agent_latency_ms": latency if voice else None,
        "response_time_ms": latency if voice else None,
        "response_time": round(latency / 1000, 3) if voice and latency is not None else None,
        "avg_latency_ms": latency if chat else None,
        "input_tokens": tokens_in, "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out if tokens_in is not None else None,
        "cost_cents": (0 if call.fails else int(round(call.duration_seconds / 10))) if done else None,
    }


def _transcript_row(call, i, row):
    """A transcript row as CallTranscriptSerializer sends it: speaker_role + content."""
    start = int(row["time"] * 1000)
    return {"id": "%s-t%d" % (call.id, i), "speaker_role": row["role"], "content": row["content"],
            "start_time_ms": start, "start_time_seconds": row["time"],
            "end_time_ms": start + 6000, "end_time_seconds": row["time"] + 6.0,
            "confidence_score": 0.98, "created_at": None}


def _filter_matches(call, f):
    """One `{column_id, filter_config: {filter_type, filter_op, filter_value}}` filter
    (utils/test_execution_utils.py): status and scenario (text), call_execution_id (in),
    overall_score (number); a filter without column_id or filter_config, or on a column the
    sandbox does not know, is skipped, as the backend skips it."""
    if not isinstance(f, dict):
        return True
    column, config = f.get("column_id"), f.get("filter_config") or {}
    if not column or not isinstance(config, dict) or not config:
        return True
    op, value = config.get("filter_op"), config.get("filter_value")
    if column == "call_execution_id" and op == "in" and isinstance(value, list):
        return call["id"] in value
    if column in ("overall_score", "overallScore"):
        score = call["overall_score"]
        ops = {"equals": lambda a, b: a == b, "greater_than": lambda a, b: a > b,
               "less_than": lambda a, b: a < b, "greater_than_or_equal": lambda a, b: a >= b,
               "less_than_or_equal": lambda a, b: a <= b}
        try:
            return score is not None and op in ops and ops[op](float(score), float(value))
        except (TypeError, ValueError):
            return False
    if column in ("status", "scenario"):
        field = str(call[column]).lower()
        v = str(value).lower()
        return {"equals": field == v, "not_equals": field != v, "contains": v in field,
                "not_contains": v not in field}.get(op, True)
    return True


@functools.lru_cache(maxsize=None)
def _transcript(customer, goal, fails):
    """The scripted conversation of one scenario row (shared, never mutated)."""
    if fails:
        return [{"role": "system", "content": "Call could not be connected.", "time": 0.0}]
    lines = [("assistant", "Thank you for calling, this is the support assistant. How can I help?"),
             ("user", "Hi, I'm %s. I'd like to %s." % (customer, goal)),
             ("assistant", "I'm sorry to hear that. Let me look into it for you."),
             ("user", "Thanks, I've been waiting a while."),
             ("assistant", "I've taken care of it and sent you a confirmation by email. Anything else?"),
             ("user", "No, that's all. Bye.")]
    return [{"role": r, "content": text, "time": round(i * 7.5, 1)} for i, (r, text) in enumerate(lines)]


def _eval_outcome(rng, cfg):
    """(value, reason, numeric) of one eval on one call, drawn from a keyed RNG."""
    if cfg.kind == "Pass/Fail":
        rate = 0.9 if TEMPLATES[cfg.template_id][0] == "is_polite" else 0.7
        passed = rng.random() < rate
        return ("Passed" if passed else "Failed",
                "The agent %s the criterion '%s'." % ("met" if passed else "did not meet", cfg.name),
                1.0 if passed else 0.0)
    if cfg.kind == "score":
        score = round(rng.uniform(0.4, 1.0), 2)
        return score, "Scored %.2f on %s." % (score, cfg.name), score
    choice = rng.choices(["Positive", "Neutral", "Negative"], weights=[5, 3, 2])[0]
    return choice, "The customer sounded %s." % choice.lower(), None


def _percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def _summary(cfg, calls):
    values = [c.outcome(cfg)[0] for c in calls]
    inner = {"name": cfg.name, "id": cfg.id, "total_cells": len(values)}
    entry = {"name": cfg.name, "id": cfg.id, "output_type": cfg.kind, "result": [inner]}
    if cfg.kind == "Pass/Fail":
        passed = sum(1 for v in values if v == "Passed")
        failed = len(values) - passed
        pct = round(100.0 * passed / len(values), 2) if values else 0.0
        inner["output"] = {"pass": pct, "fail": round(100.0 - pct, 2) if values else 0.0,
                           "pass_count": passed, "fail_count": failed}
        entry["total_pass_rate"] = pct
    elif cfg.kind == "score":
        scaled = sorted(round(v * 100, 2) for v in values)
        inner["output"] = {"p%d" % p: _percentile(scaled, p) for p in (5, 10, 25, 50, 75, 90, 95, 100)}
        avg = round(sum(scaled) / len(scaled), 2) if scaled else None
        inner["avg_score"] = avg
        entry["total_avg"] = avg
    else:
        counts = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        output = {k: round(100.0 * n / len(values), 2) for k, n in sorted(counts.items())}
        inner["output"] = output
        entry["total_choices_avg"] = output
    return entry
