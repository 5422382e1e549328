"""Glow's current API: the benchmark-test operations mounted at POST {base}/glow/test/<op>.

Sources (glow-academic/api, glow-academic/cli @ 60c5394 `src/glow/api/latest.rs`, the types
generated from the API's OpenAPI spec v1.0.50); every behaviour below names its source, and
"(inferred)" marks what no source says:

- The mount: `core/app/routes/test/__init__.py` (`APIRouter(prefix="/test")`); the CLI sends
  `POST {instance}/{resource}/{action}` with `Authorization: Bearer` (`src/glow/mod.rs`
  `resource_action`).  There is no `next` on it: `test_next_impl` is a socket event handler
  (`infra/test/workflows.py`), so a client finds the pending runs in `get`.
- `start` {benchmark_id (`infra/test/client_types.py` TestStartPayload) or eval_id (the
  CLI's TestStartPayload), infinite_mode?, idempotency_key?} -> `{test_id, invocation_id,
  benchmark_id, idempotency_key}` (`routes/test/start.py` StartTestApiResponse); invocation_id
  is the first invocation of the benchmark and idempotency_key the server's call id
  (`infra/test/start.py`); an unknown benchmark is a 400 (start.py turns ValueError into 400;
  the words are inferred).
- `trace` {test_id, test_invocation_id, run_id?, bundle ids...} -> `{test_invocation_trace_id,
  success, idempotency_key}` (`infra/test/trace.py`): opens a trace on the historical run.
- `generate` {trace_id, ...} -> `{group_id, run_id, idempotency_key, eval, produced_media}`
  (`routes/test/generate.py`, `infra/test/generate.py`, the CLI's ArtifactGenerateResponse):
  fire-and-return; with a trace, it replays the trace's historical run and answers that run's
  id.  The replay lasts `run_seconds` (inferred: the backend runs the model or reuses the
  historical turn).  Without a trace_id: 400 (inferred: the model-driven kicker path is not
  emulated).
- `run/` {test_id, test_invocation_id, run_id, test_invocation_trace_id?, idempotency_key?} ->
  `{test_invocation_run_id, success, idempotency_key}` (`routes/test/run/create.py`, mounted
  at `@router.post("/")` under prefix `/run`, so the canonical path ends in a slash and
  `/test/run` gets FastAPI's 307 to it; `infra/test/run.py`): a binding row only; a run not
  replayed yet starts its replay here (inferred, as the v5 `run`).
- `run/end` {test_invocation_run_id, success?, error?, message?} -> `{test_invocation_run_id,
  completion_id, success}` (`routes/test/run/end.py`); 404 `test_invocation_run X not
  found`; the bound replay is finished now (inferred from "marking the binding row as finished").
- `grade` {invocation_id, run_id?, score (integer rubric points, default 0), full?,
  idempotency_key?} -> `{success, grade_id, invocation_id, passed, score, time_taken}`
  (`routes/test/grade.py`, `infra/test/grade.py`): `passed` is the server's (score >= the
  rubric's pass_points, or score > 0 without them); `full` grades total_points; a score above
  total_points or below 0 is a 400 with the backend's wording.  No feedback here: the
  backend's `feedback` op scores one rubric standard of one tool call (not emulated).
- `stop` {invocation_id, idempotency_key?} -> `{invocation_id, success, message,
  idempotency_key}` (`routes/test/stop.py`).
- `get`, `search`, `archive`, `export`, `refresh`, `text/download`: the same handlers as the
  v5 mount (`routes/test/{get,search,archive,export,refresh}.py`, `routes/test/text/download.py`).
- The idempotency replay gate (`infra/events/audit.py`, `operation_key` = the body's
  `idempotency_key`): a repeated key with the same body replays the first answer (nothing runs
  again; marked `X-Idempotent-Replay: 1`, inferred); with a different body: 409 `Idempotency
  key reused with a different request payload.`; an error answer is not kept, so a retry
  after an error runs again.  Receipts do not expire (the audited branch's calls_entry; the
  300 s Redis receipt is the non-audited branch).  The in-flight 409 needs two requests at
  once, which this single-threaded emulator never has.  Soft/accept staging (`soft`,
  `accept`) is not emulated.
"""

import hashlib
import json

from common import iso
from http11 import Response, json_response

TEST_PREFIX = "/glow/test/"
# op -> {field: (type, required, nullable)}, beside the v5 SCHEMAS of glow.py
TEST_SCHEMAS = {
    "start": {"benchmark_id": ("str", False, False), "eval_id": ("str", False, False),
              "infinite_mode": ("bool", False, False), "idempotency_key": ("str", False, True)},
    "trace": {"test_id": ("str", True, False), "test_invocation_id": ("str", True, False),
              "run_id": ("str", False, True), "idempotency_key": ("str", False, True)},
    "generate": {"trace_id": ("str", False, True), "instructions": ("strlist", False, True),
                 "wait_for_complete": ("bool", False, True), "idempotency_key": ("str", False, True)},
    "run/": {"test_id": ("str", True, False), "test_invocation_id": ("str", True, False),
             "run_id": ("str", True, False), "test_invocation_trace_id": ("str", False, True),
             "idempotency_key": ("str", False, True)},
    "run/end": {"test_invocation_run_id": ("str", True, False), "success": ("bool", False, False),
                "error": ("bool", False, False), "message": ("str", False, False),
                "idempotency_key": ("str", False, True)},
    "grade": {"invocation_id": ("str", True, False), "run_id": ("str", False, True),
              "score": ("int", False, False), "full": ("bool", False, False),
              "idempotency_key": ("str", False, True)},
    "stop": {"invocation_id": ("str", True, False), "idempotency_key": ("str", False, True)},
}
# The bundle ids a trace records (the CLI's GetTestInvocationTracesResponse).
TRACE_BUNDLE = ("reasoning_level_ids", "temperature_level_ids", "voice_ids", "prompt_ids", "instruction_ids",
                "tool_ids", "quality_ids", "modality_ids")
# The rubric's points per benchmark (inferred: the seeded rubrics have 10 points, 7 to pass).
TOTAL_POINTS, PASS_POINTS = 10, 7


class TestMount:
    """The /test/* operations of the Glow service (mixed into glow.Glow)."""

    def add_test_routes(self, shared):
        for op in ("start", "trace", "generate", "run/", "run/end", "grade", "stop"):
            self.router.add("POST", TEST_PREFIX + op,
                            lambda req, op=op: self.op(req, op, TEST_SCHEMAS, self._test_op))
        for op in shared:
            self.router.add("POST", TEST_PREFIX + op, lambda req, op=op: self.op(req, op))

    def reset_test_mount(self):
        self.receipts = {}      # idempotency_key -> (fingerprint, status, body)
        self.traces = {}        # trace id -> (test, invocation, run)
        self.bindings = {}      # binding id -> run

    def slash_canonical(self, path):
        """The path FastAPI redirects to, when it differs (`run/` is mounted with its slash)."""
        if path == TEST_PREFIX + "run":
            return path + "/"
        if path.endswith("/") and path != TEST_PREFIX + "run/":
            return path[:-1]
        return None

    def _test_op(self, req, op, body):
        key = body.get("idempotency_key")
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
        if key is not None and key in self.receipts:
            prior, status, payload = self.receipts[key]
            if prior != fingerprint:
                return json_response(409, {"detail": "Idempotency key reused with a different request payload."})
            return Response(status, payload, [("X-Idempotent-Replay", "1")])
        status, answer = getattr(self, "t_" + op.replace("/", "_").rstrip("_"))(body, key)
        payload = json.dumps(answer, separators=(",", ":")).encode("utf-8")
        if key is not None and 200 <= status < 300:
            self.receipts[key] = (fingerprint, status, payload)
        return Response(status, payload)

    # ------------------------------------------------------------ operations

    def t_start(self, body, key):
        bench_id = body.get("benchmark_id")
        if bench_id is None and body.get("eval_id") is not None:
            bench_id = next((b for b, v in self.benchmarks().items() if v["eval_id"] == body["eval_id"]),
                            body["eval_id"])
        if bench_id is None:
            return 422, {"detail": [{"type": "missing", "loc": ["body", "benchmark_id"],
                                     "msg": "Field required", "input": body}]}
        test, err = self.create_test(bench_id, body.get("infinite_mode", False))
        if err:
            return 400, {"detail": err}
        return 200, {"test_id": test.id, "invocation_id": test.invocations[0].id,
                     "benchmark_id": bench_id, "idempotency_key": key or self._new_id("call")}

    def _invocation_of(self, test_id, invocation_id):
        test = self._test(test_id)
        found = self.invocations.get(invocation_id)
        if test is None or found is None or found[0] is not test:
            return None, "Test invocation not found"
        return found[1], None

    def t_trace(self, body, key):
        inv, err = self._invocation_of(body["test_id"], body["test_invocation_id"])
        if err:
            return 404, {"detail": err}
        run = next((r for r in inv.runs if r.id == body.get("run_id")), None)
        if body.get("run_id") is not None and run is None:
            return 404, {"detail": "Test run not found"}
        trace_id = self._new_id("trace")
        now = iso(self.ctx.clock.wall(), "us")
        row = {"id": trace_id, "test_invocation_id": inv.id, "created_at": now, "updated_at": now,
               "generated": False, "mcp": False, "active": True, "run_id": run.id if run else None}
        for field in TRACE_BUNDLE:  # the bundle, verbatim (trace.py: no inheritance from the invocation)
            row[field] = body.get(field) or []
        self.traces[trace_id] = (inv, run, row)
        return 200, {"test_invocation_trace_id": trace_id, "success": True,
                     "idempotency_key": key or self._new_id("call")}

    def t_generate(self, body, key):
        trace = self.traces.get(body.get("trace_id") or "")
        if trace is None:
            return 400, {"detail": "trace_id is required: the sandbox replays traced runs only"
                         if body.get("trace_id") is None else "Trace not found"}
        inv, run, _ = trace
        if run is None:
            return 400, {"detail": "Cannot derive group_id from trace; provide config.group_id."}
        self.begin_replay(run, self.ctx.clock.now())
        return 200, {"group_id": inv.group_id, "run_id": run.id, "idempotency_key": key or self._new_id("call"),
                     "eval": None, "produced_media": []}

    def t_run(self, body, key):
        found, err = self._find_run(body)
        if err:
            return err.status, json.loads(err.body)
        run = found[2]
        now = self.ctx.clock.now()
        self.begin_replay(run, now)
        binding = self.bind(run, now, body.get("test_invocation_trace_id"))
        self.bindings[binding["id"]] = run
        return 200, {"test_invocation_run_id": binding["id"], "success": True,
                     "idempotency_key": key or self._new_id("call")}

    def t_run_end(self, body, key):
        run = self.bindings.get(body["test_invocation_run_id"])
        if run is None:
            return 404, {"detail": "test_invocation_run %s not found" % body["test_invocation_run_id"]}
        now = self.ctx.clock.now()
        if run.status(now) == "in_progress":
            run.stopped_at = now
        return 200, {"test_invocation_run_id": body["test_invocation_run_id"],
                     "completion_id": self._new_id("completion"), "success": body.get("success", True)}

    def t_grade(self, body, key):
        found = self.invocations.get(body["invocation_id"])
        if found is None:
            return 400, {"detail": "Invocation %s not found" % body["invocation_id"]}
        _, inv = found
        score = TOTAL_POINTS if body.get("full") else body.get("score", 0)
        if score > TOTAL_POINTS:
            return 400, {"detail": "Score %d exceeds maximum of %d. Pass threshold is %d."
                         % (score, TOTAL_POINTS, PASS_POINTS)}
        if score < 0:
            return 400, {"detail": "Score cannot be negative. Valid range: 0-%d." % TOTAL_POINTS}
        run = next((r for r in inv.runs if r.id == body.get("run_id")), None) or inv.runs[0]
        wall = self.ctx.clock.wall()
        grade = {"id": self._new_id("grade"), "score": score, "passed": score >= PASS_POINTS,
                 "feedback": None, "time_taken": int((wall - inv.created_wall) * 1000),
                 "created_at": iso(wall, "us")}
        run.grade = inv.grade = grade
        inv.grades.append(grade)
        return 200, {"success": True, "grade_id": grade["id"], "invocation_id": inv.id,
                     "passed": grade["passed"], "score": score, "time_taken": grade["time_taken"]}

    def t_stop(self, body, key):
        resp = self.op_stop(None, body)
        answer = json.loads(resp.body)
        if resp.status == 200:
            answer["idempotency_key"] = key
        return resp.status, answer
