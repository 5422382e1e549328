"""Glow benchmark-test emulator: POST {base}/glow/api/v5/artifacts/test/<op> with a JSON body
(the seed's layout), and the current API's mount POST {base}/glow/test/<op> (glow_testmount.py).

FastAPI conventions: {"detail": "..."} errors, 422 validation lists, 307 for a trailing
slash.  `get` answers come from a per-test cache (glow_cache_ttl, 300 s) unless the caller
sends X-Bypass-Cache: 1; X-Cache-Hit says which.  The `get` answer's entries are the backend's
(tests, invocations, runs = binding rows, grades, messages by id); see README.md.
"""

import hashlib
import json

from common import Service, iso, json_response, rng_for, seeded_uuid
from glow_testmount import TestMount
from http11 import Response

TOKEN = "glow-test-token"
PREFIX = "/glow/api/v5/artifacts/test/"
PROFILE_ID = "9f0f1e00-0000-4000-8000-000000000001"
ACTOR_NAME = "Sandbox Grader"
DEPARTMENTS = {"de9a0000-0000-4000-8000-000000000001": "Customer Support",
               "de9a0000-0000-4000-8000-000000000002": "Research"}

BENCHMARKS = {
    "b3e1a7c0-0000-4000-8000-000000000001": {
        "name": "Support replies", "eval_id": "e7a10000-0000-4000-8000-000000000001",
        "rubric_id": "4b410000-0000-4000-8000-000000000001",
        "description": "Replies to common support questions", "rubric": "Support reply rubric",
        "department": "de9a0000-0000-4000-8000-000000000001", "models": [("gpt-4o-mini", "support-bot")],
        "prompts": ["How do I reset my password?", "Can I change my billing date?",
                    "My invoice shows the wrong company name. Can you fix it?"]},
    "b3e1a7c0-0000-4000-8000-000000000002": {
        "name": "Model shoot-out", "eval_id": "e7a10000-0000-4000-8000-000000000002",
        "rubric_id": "4b410000-0000-4000-8000-000000000002",
        "description": "The same prompts answered by three models", "rubric": "Helpfulness rubric",
        "department": "de9a0000-0000-4000-8000-000000000002",
        "models": [("gpt-4o", "shootout-agent"), ("claude-3-5-sonnet", "shootout-agent"),
                   ("llama-3.1-70b", "shootout-agent")],
        "prompts": ["Summarize the refund policy in two sentences.",
                    "Explain what an API rate limit is to a non-technical customer."]},
    "b3e1a7c0-0000-4000-8000-000000000003": {
        "name": "Grading marathon", "eval_id": "e7a10000-0000-4000-8000-000000000003",
        "rubric_id": "4b410000-0000-4000-8000-000000000003",
        "description": "Ten short prompts for custom grading loops", "rubric": "Exact answer rubric",
        "department": "de9a0000-0000-4000-8000-000000000001", "models": [("gpt-4o-mini", "quiz-bot")],
        "prompts": ["What is %d + %d?" % (i, i + 1) for i in range(1, 11)]},
}

OPS = ("start", "next", "run", "end", "stop", "get", "archive", "refresh", "export", "docs", "search",
       "text/download")
FEEDBACK = ["Clear, correct and polite.", "Correct but longer than needed.",
            "Misses part of the question.", "Gives a wrong answer with confidence."]


def detail(status, message):
    return json_response(status, {"detail": message})


def _missing(loc, body):
    return {"type": "missing", "loc": ["body", loc], "msg": "Field required", "input": body}


TYPE_ERRORS = {
    "str": ("string_type", "Input should be a valid string", lambda v: isinstance(v, str)),
    "bool": ("bool_type", "Input should be a valid boolean", lambda v: isinstance(v, bool)),
    "num": ("float_type", "Input should be a valid number",
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "int": ("int_type", "Input should be a valid integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "strlist": ("list_type", "Input should be a valid list",
                lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
}

# op -> {field: (type, required, nullable)}
SCHEMAS = {
    "start": {"benchmark_id": ("str", True, False), "infinite_mode": ("bool", False, False)},
    "next": {"test_id": ("str", True, False)},
    "run": {"test_id": ("str", True, False), "test_invocation_id": ("str", True, False),
            "run_id": ("str", True, False)},
    "end": {"test_id": ("str", True, False), "test_invocation_id": ("str", True, False),
            "run_id": ("str", True, False), "grade": ("bool", False, False), "score": ("num", False, True),
            "passed": ("bool", False, True), "feedback": ("str", False, True)},
    "stop": {"invocation_id": ("str", True, False)},
    "text/download": {"text_id": ("str", True, False)},
    "get": {"test_id": ("str", True, False)},
    "archive": {"test_ids": ("strlist", True, False), "archived": ("bool", False, False)},
    "export": {"test_id": ("str", True, False)},
    "docs": {"entity_id": ("str", False, True)},
    "search": {"eval_ids": ("strlist", False, True), "department_ids": ("strlist", False, True),
               "is_archived": ("bool", False, True), "start_date": ("str", False, True),
               "end_date": ("str", False, True), "eval_search": ("str", False, True),
               "department_search": ("str", False, True), "page_size": ("int", False, False),
               "page_offset": ("int", False, False)},
}


def validate(op, body, schemas=None):
    """Pydantic-style error list (empty when the body is fine)."""
    schema = (schemas or SCHEMAS).get(op)
    if schema is None:
        return []
    if not isinstance(body, dict):
        return [{"type": "model_attributes_type", "loc": ["body"],
                 "msg": "Input should be a valid dictionary or object to extract fields from", "input": body}]
    errors = []
    for field, (kind, required, nullable) in schema.items():
        if field not in body:
            if required:
                errors.append(_missing(field, body))
            continue
        value = body[field]
        if value is None and nullable:
            continue
        etype, msg, ok = TYPE_ERRORS[kind]
        if not ok(value):
            errors.append({"type": etype, "loc": ["body", field], "msg": msg, "input": value})
    return errors


class GlowRun:
    __slots__ = ("id", "chat_id", "invocation", "model", "agent", "suite_entry_id", "claimed", "status_t0",
                 "duration", "stopped_at", "reply", "grade", "bindings")

    def status(self, now):
        if self.status_t0 is None:
            return "not_started"
        if self.stopped_at is not None or now >= self.status_t0 + self.duration:
            return "completed"
        return "in_progress"

    def progress(self, now):
        if self.status_t0 is None:
            return 0.0
        end = self.stopped_at if self.stopped_at is not None else now
        return max(0.0, min(1.0, (end - self.status_t0) / max(self.duration, 1e-9)))


class Invocation:
    __slots__ = ("id", "group_id", "title", "position", "created_wall", "runs", "grade", "grades")


class Test:
    def __init__(self, test_id, number, benchmark_id, infinite, wall):
        self.id = test_id
        self.number = number
        self.benchmark_id = benchmark_id
        self.infinite = infinite
        self.created_wall = wall
        self.archived = False
        self.stopped = False
        self.invocations = []
        self.last_terminal_digest = None
        self.reported = set()       # completed runs some `get` has already shown

    def runs(self):
        return [r for inv in self.invocations for r in inv.runs]


class Glow(TestMount, Service):
    name = "glow"
    prefixes = ("/glow/",)

    def add_routes(self):
        for op in OPS:
            self.router.add("POST", PREFIX + op, lambda req, op=op: self.op(req, op))
        # routes/test/__init__.py mounts get, search, archive, export, refresh and text at /test too
        self.add_test_routes(("get", "search", "archive", "export", "refresh", "text/download"))

    def reset(self):
        self.tests = {}
        self.order = []
        self.invocations = {}
        self.cache = {}
        self.counter = 0
        self.reset_test_mount()

    @staticmethod
    def benchmarks():
        return BENCHMARKS

    def _new_id(self, kind):
        self.counter += 1
        return seeded_uuid(self.ctx.seed, self.name, kind, self.counter)

    # ------------------------------------------------------------ plumbing

    def resolve(self, req):
        canonical = self.slash_canonical(req.path)
        if canonical is not None:
            location = canonical + ("?" + req.query_string if req.query_string else "")
            return (lambda: Response(307, b"", [("Location", location)], content_type=None)), \
                "/glow <redirect slash>"
        return super().resolve(req)

    def error(self, status, message=None):
        defaults = {401: "Missing profile or session", 404: "Not Found", 405: "Method Not Allowed",
                    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                    503: "Service Unavailable", 504: "Gateway Timeout"}
        return detail(status, message or defaults.get(status, "HTTP %d" % status))

    def method_not_allowed(self, req, allowed):
        return detail(405, "Method Not Allowed").header("Allow", ", ".join(sorted(set(allowed))))

    def dispatch(self, handler, req, params):
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if not ((scheme.lower() == "bearer" and token.strip() == TOKEN) or req.headers.get("x-api-key") == TOKEN):
            return detail(401, "Missing profile or session")
        return handler(req, **params)

    def op(self, req, op, schemas=None, handler=None):
        if req.body:
            try:
                body = req.json()
            except (ValueError, UnicodeDecodeError) as e:
                return json_response(422, {"detail": [{"type": "json_invalid", "loc": ["body", 0],
                                                       "msg": "JSON decode error", "input": {},
                                                       "ctx": {"error": str(e)}}]})
        elif op in ("refresh", "docs", "search"):
            body = {}
        else:
            return json_response(422, {"detail": [{"type": "missing", "loc": ["body"],
                                                   "msg": "Field required", "input": None}]})
        errors = validate(op, body, schemas)
        if errors:
            return json_response(422, {"detail": errors})
        if handler is not None:
            return handler(req, op, body)
        return getattr(self, "op_" + op.replace("/", "_"))(req, body)

    def _test(self, test_id):
        return self.tests.get(test_id)

    # ------------------------------------------------------------ lifecycle ops

    def op_start(self, req, body):
        test, err = self.create_test(body["benchmark_id"], body.get("infinite_mode", False))
        if err:
            return detail(404, err)
        return json_response(200, {"test_id": test.id})

    def create_test(self, benchmark_id, infinite):
        """(test, None), or (None, the backend's message) for an unknown benchmark."""
        bench = BENCHMARKS.get(benchmark_id)
        if bench is None:
            return None, "Benchmark test not found"
        wall = self.ctx.clock.wall()
        test = Test(self._new_id("test"), len(self.order) + 1, benchmark_id, bool(infinite), wall)
        for prompt in bench["prompts"]:
            self._add_invocation(test, prompt, wall)
        self.tests[test.id] = test
        self.order.append(test.id)
        return test, None

    def _add_invocation(self, test, prompt, wall):
        bench = BENCHMARKS[test.benchmark_id]
        inv = Invocation()
        inv.id = self._new_id("invocation")
        inv.group_id = self._new_id("group")
        inv.title = prompt
        inv.position = len(test.invocations)
        inv.created_wall = wall
        inv.grade = None
        inv.grades = []   # every test_grade_entry row (entries.grades); `grade` is the latest
        inv.runs = []
        entry = seeded_uuid(self.ctx.seed, self.name, "suite-entry", test.benchmark_id, prompt)
        for model, agent in bench["models"]:
            run = GlowRun()
            run.id = self._new_id("run")
            run.chat_id = inv.id  # core/app/infra/test/get.py: chat_id=str(inv.invocation_id)
            run.bindings = []     # test_invocation_runs rows: one per `run` (or `next`) that replayed it
            run.invocation = inv
            run.model = model
            run.agent = agent
            run.suite_entry_id = entry
            run.claimed = False
            run.status_t0 = None
            run.duration = 0.0
            run.stopped_at = None
            run.grade = None
            run.reply = "(%s) %s" % (model, _answer(prompt))
            inv.runs.append(run)
        test.invocations.append(inv)
        self.invocations[inv.id] = (test, inv)
        return inv

    def op_next(self, req, body):
        test = self._test(body["test_id"])
        if test is None:
            return detail(404, "Benchmark test not found")
        runs = test.runs()
        pending = next((r for r in runs if not r.claimed), None)
        if pending is None and test.infinite and not test.stopped:
            bench = BENCHMARKS[test.benchmark_id]
            prompt = bench["prompts"][len(test.invocations) % len(bench["prompts"])]
            pending = self._add_invocation(test, prompt, self.ctx.clock.wall()).runs[0]
            runs = test.runs()
        if pending is None:
            return detail(400, "No pending test run found")
        pending.claimed = True   # handed out: the next `next` finds the following run
        if self.ctx.config["glow_next_runs"]:
            # core/app/infra/test/next.py: `next` itself runs the triggered replay
            # (test_run_internal_impl), so the run is bound and started here.
            self._start_replay(pending, self.ctx.clock.now())
        return json_response(200, {"invocation_id": pending.invocation.id, "run_id": pending.id,
                                   "current_run": runs.index(pending) + 1, "total_runs": len(runs)})

    def op_text_download(self, req, body):
        """core/app/routes/test/text/download.py: a message text by its id, as a file
        (`text/plain`, inline); an assistant text grows while its replay is in progress."""
        run_id, _, index = body["text_id"].rpartition("-t")
        now = self.ctx.clock.now()
        for test in self.tests.values():
            for run in test.runs():
                if run.id == run_id and index.isdigit() and run.status_t0 is not None:
                    texts = _messages(run, now)
                    if int(index) < len(texts):
                        return Response(200, texts[int(index)]["content"].encode("utf-8"),
                                        [("Content-Disposition", 'inline; filename="%s.txt"' % body["text_id"]),
                                         ("Cache-Control", "private, max-age=0, must-revalidate")],
                                        content_type="text/plain; charset=utf-8")
        return detail(404, "Text not found")

    def _start_replay(self, run, now):
        self.begin_replay(run, now)
        self.bind(run, now)

    def begin_replay(self, run, now):
        """The replay starts (once): it lasts `run_seconds`."""
        run.claimed = True
        if run.status_t0 is None:
            run.status_t0 = now
            run.duration = self.ctx.config.run_seconds(self.name, rng_for(self.ctx.seed, self.name, run.id))

    def bind(self, run, now, trace_id=None):
        """A binding row (test_invocation_runs_entry; the CLI's GetTestInvocationRunsResponse)."""
        binding = {"id": self._new_id("binding"), "test_invocation_id": run.invocation.id,
                   "created_at": iso(self.ctx.clock.wall(now), "us"),
                   "updated_at": iso(self.ctx.clock.wall(now), "us"),
                   "generated": False, "mcp": False, "active": True, "test_invocation_traces_id": trace_id,
                   "run_id": run.id}
        run.bindings.append(binding)
        return binding

    def _find_run(self, body):
        """(test, invocation, run) or an error response."""
        test = self._test(body["test_id"])
        if test is None:
            return None, detail(404, "Benchmark test not found")
        found = self.invocations.get(body["test_invocation_id"])
        if found is None or found[0] is not test:
            return None, detail(404, "Test invocation not found")
        inv = found[1]
        run = next((r for r in inv.runs if r.id == body["run_id"]), None)
        if run is None:
            return None, detail(404, "Test run not found")
        return (test, inv, run), None

    def op_run(self, req, body):
        found, err = self._find_run(body)
        if err:
            return err
        test, inv, run = found
        now = self.ctx.clock.now()
        if run.status_t0 is not None and not self.ctx.config["glow_next_runs"]:
            return detail(400, "Test run already %s" % ("completed" if run.status(now) == "completed" else "in progress"))
        # The backend's `run` writes a binding row whatever came before
        # (core/app/infra/test/run.py): after a `next` that already ran it, a second replay.
        self._start_replay(run, now)
        return json_response(200, {"test_id": test.id, "invocation_id": inv.id, "run_id": run.id})

    def op_end(self, req, body):
        found, err = self._find_run(body)
        if err:
            return err
        test, inv, run = found
        now = self.ctx.clock.now()
        status = run.status(now)
        if status != "completed":
            return detail(400, "Test run is %s; it can be ended once its replay has completed"
                          % status.replace("_", " "))
        own = any(body.get(k) is not None for k in ("score", "passed", "feedback"))
        if own:
            grade = {"score": body.get("score"), "passed": body.get("passed"), "feedback": body.get("feedback")}
        elif body.get("grade"):
            rng = rng_for(self.ctx.seed, self.name, "grade", run.id)
            score = round(rng.uniform(0.3, 1.0), 2)
            grade = {"score": score, "passed": score >= 0.7,
                     "feedback": FEEDBACK[0 if score >= 0.9 else 1 if score >= 0.7 else 2 if score >= 0.5 else 3]}
        else:
            grade = None
        if grade is not None:
            grade["id"] = self._new_id("grade")
            grade["time_taken"] = round(run.progress(now) * run.duration, 3)
        run.grade = grade or {"id": None, "score": None, "passed": None, "feedback": None, "time_taken": None}
        inv.grade = run.grade
        if grade is not None:
            inv.grades.append(grade)
        g = run.grade
        return json_response(200, {"invocation_id": inv.id, "grade_id": g["id"], "score": g["score"],
                                   "passed": g["passed"], "feedback": g["feedback"]})

    def op_stop(self, req, body):
        found = self.invocations.get(body["invocation_id"])
        if found is None:
            return detail(404, "Test invocation not found")
        test, inv = found
        now = self.ctx.clock.now()
        test.stopped = True
        stopped = 0
        for run in inv.runs:
            if run.status(now) == "in_progress":
                run.stopped_at = now
                stopped += 1
        return json_response(200, {"invocation_id": inv.id, "success": True,
                                   "message": "Stopped %d running replay(s)" % stopped if stopped
                                   else "Nothing was running; the test will not produce further runs"})

    # ------------------------------------------------------------ get (cached)

    def op_get(self, req, body):
        test = self._test(body["test_id"])
        if test is None:
            return detail(404, "Benchmark test not found")
        now = self.ctx.clock.now()
        bypass = req.headers.get("x-bypass-cache", "").strip().lower() in ("1", "true", "yes")
        cached = self.cache.get(test.id)
        ttl = self.ctx.config["glow_cache_ttl"]
        if not bypass and cached is not None and now - cached[0] < ttl:
            _, payload, terminal, completed = cached
            hit = True
        else:
            doc = self._get_doc(test, now)
            payload = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            terminal = doc["status_summary"]["in_progress"] == 0 and doc["status_summary"]["completed"] > 0
            completed = [r["run_id"] for r in doc["runs"] if r["status"] == "completed"]
            self.cache[test.id] = (now, payload, terminal, completed)
            hit = False
        self._count_poll(test, payload, terminal, completed)
        return Response(200, payload, [("X-Cache-Hit", "1" if hit else "0")])

    def _count_poll(self, test, payload, terminal, completed):
        """Poll-after-terminal accounting for a `get`, which covers every run of a test.

        Each answer that shows a completed run nobody was told about yet tells one waiter
        about it (concurrent graders of one test each learn of their own run).  An answer
        that tells nothing new, shows nothing in progress and repeats the previous terminal
        answer byte for byte is a poll after terminal.
        """
        fresh = next((run_id for run_id in completed if run_id not in test.reported), None)
        digest = hashlib.sha1(payload).digest() if terminal else None
        if fresh is not None:
            test.reported.add(fresh)
        elif terminal and test.last_terminal_digest == digest:
            self.ctx.stats.poll_after_terminal(self.name)
        if terminal:
            test.last_terminal_digest = digest

    def _get_doc(self, test, now):
        bench = BENCHMARKS[test.benchmark_id]
        runs = test.runs()
        statuses = [r.status(now) for r in runs]
        summary = {"total": len(runs), "completed": statuses.count("completed"),
                   "in_progress": statuses.count("in_progress"), "not_started": statuses.count("not_started")}
        if summary["in_progress"]:
            overall = "in_progress"
        elif summary["completed"] == summary["total"] and not (test.infinite and not test.stopped):
            overall = "completed"
        elif summary["completed"] == 0:
            overall = "not_started"
        else:
            overall = "in_progress"
        current = next((r.invocation.id for r, s in zip(runs, statuses) if s == "in_progress"), None) or \
            next((r.invocation.id for r, s in zip(runs, statuses) if s == "not_started"), None)
        invocations = []
        for inv in test.invocations:
            g = inv.grade or {}
            invocations.append({
                "invocation_id": inv.id, "test_id": test.id, "group_id": inv.group_id,
                "invocation_created_at": iso(inv.created_wall, "us"), "invocation_title": inv.title,
                "use_custom": False, "position": inv.position,
                "invocation_completed": all(r.status(now) == "completed" and r.grade is not None for r in inv.runs),
                "grade_id": g.get("id"), "grade_score": g.get("score"), "grade_passed": g.get("passed"),
                "grade_time_taken": g.get("time_taken"), "grade_feedback": g.get("feedback"),
                "rubric_id": bench["rubric_id"]})
        run_items, bindings, messages = [], [], []
        for r, s in zip(runs, statuses):
            g = r.grade or {}
            # One run item per replay (binding row) once replayed (get.py), else one not_started item.
            for _ in (r.bindings or [None]):
                run_items.append({"chat_id": r.chat_id, "invocation_id": r.invocation.id, "run_id": r.id,
                                  "group_id": r.invocation.group_id, "suite_entry_id": r.suite_entry_id,
                                  "model_name": r.model, "agent_name": r.agent, "status": s,
                                  "grade_score": g.get("score"), "grade_passed": g.get("passed")})
            bindings.extend(r.bindings)
            for i, m in enumerate(_messages(r, now) if s != "not_started" else []):
                # entries.messages reference their text by id (SearchMessageResponse): no content.
                messages.append({"message_id": "%s-m%d" % (r.id, i), "run_id": r.id, "role": m["role"],
                                 "message_created_at": iso(self.ctx.clock.wall(r.status_t0), "us"),
                                 "text_ids": ["%s-t%d" % (r.id, i)], "audio_ids": [], "image_ids": [],
                                 "video_ids": [], "file_ids": [], "call_ids": []})
        return {
            "test": self._test_json(test),
            "invocations": invocations, "status": overall,
            "eval_name": bench["name"], "eval_description": bench["description"],
            "rubric_name": bench["rubric"], "infinite_mode": test.infinite,
            "runs": run_items, "status_summary": summary, "show_controls": True,
            "current_invocation_id": current, "has_runs_or_groups": bool(runs),
            # TestEntries as the backend fills it (core/app/infra/test/get.py, glow-academic/cli
            # src/glow/api/latest.rs): tests, invocations, runs (binding rows), groups (traces),
            # grades, messages.
            "entries": {"tests": [self._test_json(test)], "invocations": invocations, "runs": bindings,
                        "groups": [row for inv, _, row in self.traces.values() if inv in test.invocations],
                        "grades": [_grade_row(inv, g) for inv in test.invocations for g in inv.grades],
                        "messages": messages},
            "resources": {"benchmark_id": test.benchmark_id, "eval_id": bench["eval_id"],
                          "rubric": {"name": bench["rubric"],
                                     "criteria": ["Answers the question", "Is correct", "Is concise"]}},
        }

    def _test_json(self, test):
        bench = BENCHMARKS[test.benchmark_id]
        return {"test_id": test.id, "eval_id": bench["eval_id"], "profile_id": PROFILE_ID,
                "department_ids": [bench["department"]], "test_name": "%s #%d" % (bench["name"], test.number),
                "test_description": bench["description"], "num_invocations": len(test.invocations),
                "infinite_mode": test.infinite, "is_dynamic": False, "archived": test.archived,
                "test_created_at": iso(test.created_wall, "us")}

    # ------------------------------------------------------------ other ops

    def op_archive(self, req, body):
        archived = body.get("archived", True)
        count = 0
        for test_id in body["test_ids"]:
            test = self.tests.get(test_id)
            if test is not None:
                test.archived = archived
                count += 1
        return json_response(200, {"updated_count": count})

    def op_refresh(self, req, body):
        tags = ["test:%s" % t for t in sorted(self.cache)]
        self.cache.clear()
        return json_response(200, {"success": True,
                                   "refreshed_views": ["mv_test_summary", "mv_test_runs", "mv_test_search"],
                                   "invalidated_tags": ["artifacts:test"] + tags})

    def op_export(self, req, body):
        test = self._test(body["test_id"])
        if test is None:
            return detail(404, "Benchmark test not found")
        return json_response(200, {"upload_id": self._new_id("upload"),
                                   "file_name": "test_%s.zip" % test.id, "row_count": len(test.runs())})

    def op_docs(self, req, body):
        ops = [{"name": op, "method": "POST", "path": "/api/v5/artifacts/test/" + op,
                "description": SUMMARIES[op]} for op in OPS]
        artifact = None
        entity = body.get("entity_id")
        if entity is not None:
            test = self._test(entity)
            if test is None:
                return detail(404, "Benchmark test not found")
            t = self._test_json(test)
            artifact = {"name": t["test_name"], "type": "test", "description": t["test_description"]}
        return json_response(200, {
            "name": "Benchmark tests", "type": "test",
            "description": "Replay benchmark prompts against agents and grade the runs.",
            "artifact": artifact, "entries": [], "resources": [],
            "permissions": [{"name": "test:read", "method": "POST", "path": "/api/v5/artifacts/test/get",
                             "description": "Read tests"}],
            "api_operations": ops, "page_metadata": None})

    def op_search(self, req, body):
        now = self.ctx.clock.now()
        tests = [self.tests[t] for t in reversed(self.order)]
        is_archived = body.get("is_archived")
        tests = [t for t in tests if t.archived == bool(is_archived)]
        if body.get("eval_ids"):
            tests = [t for t in tests if BENCHMARKS[t.benchmark_id]["eval_id"] in body["eval_ids"]]
        if body.get("department_ids"):
            tests = [t for t in tests if BENCHMARKS[t.benchmark_id]["department"] in body["department_ids"]]
        if body.get("eval_search"):
            needle = body["eval_search"].lower()
            tests = [t for t in tests if needle in BENCHMARKS[t.benchmark_id]["name"].lower()]
        if body.get("department_search"):
            needle = body["department_search"].lower()
            tests = [t for t in tests if needle in DEPARTMENTS[BENCHMARKS[t.benchmark_id]["department"]].lower()]
        if body.get("start_date"):
            tests = [t for t in tests if iso(t.created_wall) >= body["start_date"]]
        if body.get("end_date"):
            tests = [t for t in tests if iso(t.created_wall)[:len(body["end_date"])] <= body["end_date"]]
        size = max(1, min(int(body.get("page_size", 20)), 100))
        offset = max(0, int(body.get("page_offset", 0)))
        items = []
        for t in tests[offset:offset + size]:
            j = self._test_json(t)
            statuses = [r.status(now) for r in t.runs()]
            j.update(eval_name=BENCHMARKS[t.benchmark_id]["name"],
                     status_summary={"total": len(statuses), "completed": statuses.count("completed"),
                                     "in_progress": statuses.count("in_progress"),
                                     "not_started": statuses.count("not_started")})
            items.append(j)

        def section(title, key_of, names):
            counts = {}
            for t in tests:
                k = key_of(t)
                counts[k] = counts.get(k, 0) + 1
            return {"title": title, "options": [{"id": k, "name": names[k], "count": n}
                                                for k, n in sorted(counts.items())]}
        eval_names = {b["eval_id"]: b["name"] for b in BENCHMARKS.values()}
        return json_response(200, {
            "actor_name": ACTOR_NAME, "tests": items,
            "eval_filter": section("Evals", lambda t: BENCHMARKS[t.benchmark_id]["eval_id"], eval_names),
            "department_filter": section("Departments", lambda t: BENCHMARKS[t.benchmark_id]["department"],
                                         DEPARTMENTS),
            "total_count": len(tests)})

    def run_stats(self):
        now = self.ctx.clock.now()
        runs = [r for t in self.tests.values() for r in t.runs() if r.status_t0 is not None]
        return {"started": len(runs), "terminal": sum(1 for r in runs if r.status(now) == "completed")}


SUMMARIES = {
    "start": "Create a new test.", "next": "Find next pending run in an existing test.",
    "run": "Run one auto-regressive replay.", "end": "End a single invocation within a test.",
    "stop": "Stop current test execution.", "get": "Get benchmark test artifact details.",
    "archive": "Archive or unarchive benchmark tests by IDs.", "refresh": "Refresh views and invalidate caches.",
    "export": "Export test data as a ZIP.", "docs": "Get composed documentation.", "search": "Search tests.",
    "text/download": "Download text content for a test.",
}


def _grade_row(inv, g):
    """entries.grades: the CLI's GetTestGradeResponse (test_grade_entry rows)."""
    made = g.get("created_at") or iso(inv.created_wall, "us")
    return {"id": g["id"], "invocation_id": inv.id, "created_at": made, "updated_at": made,
            "passed": g["passed"], "score": g["score"], "time_taken": g["time_taken"],
            "generated": False, "mcp": False, "active": True, "call_id": None}


def _answer(prompt):
    if prompt.startswith("What is ") and "+" in prompt:
        a, b = prompt[8:-1].split(" + ")
        return "The answer is %d." % (int(a) + int(b))
    return "Here is a short answer to: %s" % prompt


def _messages(run, now):
    """The replay's chat so far: the prompt, then the reply growing token by token."""
    progress = run.progress(now)
    reply = run.reply if run.status(now) == "completed" and run.stopped_at is None \
        else run.reply[: int(len(run.reply) * progress)]
    return [{"role": "user", "content": run.invocation.title},
            {"role": "assistant", "content": reply}]
