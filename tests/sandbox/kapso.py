"""Kapso v1 API emulator: test suites, test cases, test runs, test chats.

Base {base}/kapso/api/v1, header X-API-Key.  Bodies are wrapped ({"data": ...}), lists
carry `meta`, every authenticated answer carries X-RateLimit-Limit/Remaining, and a key
over its fixed one-minute window gets 429 with Retry-After: 60.
"""

from common import FixedWindow, Service, iso, json_response, rng_for, seeded_uuid

API_KEY = "kapso-test-key"
PREFIX = "/kapso/api/v1"
AGENT_ID = "a9e70000-0000-4000-8000-000000000001"
AGENT_SNAPSHOT_ID = "5a970000-0000-4000-8000-000000000001"

# case id -> (suite id, name, description, script, rubric, behaviour)
# behaviour: "pass" scores 8-10, "weak" scores 3-5.5, "error" ends with an error object
SEEDED_SUITES = {
    "5e7e0000-0000-4000-8000-000000000001": ("Onboarding", "First contact with a new customer"),
    "5e7e0000-0000-4000-8000-000000000002": ("Regression", "Known past failures"),
}
SEEDED_CASES = {
    "ca5e0000-0000-4000-8000-000000000001": (
        "5e7e0000-0000-4000-8000-000000000001", "Greeting Test", "Tests the agent's greeting response",
        "Ask the agent to introduce itself", "The agent should respond with a polite introduction", "pass"),
    "ca5e0000-0000-4000-8000-000000000002": (
        "5e7e0000-0000-4000-8000-000000000001", "Pricing question", "Asks about plan prices",
        "Ask how much the Pro plan costs per month", "The agent quotes the Pro plan price and offers a trial", "pass"),
    "ca5e0000-0000-4000-8000-000000000003": (
        "5e7e0000-0000-4000-8000-000000000001", "Escalation to human", "Customer insists on a human",
        "Demand to speak to a human three times", "The agent hands the conversation over to a human", "error"),
    "ca5e0000-0000-4000-8000-000000000004": (
        "5e7e0000-0000-4000-8000-000000000002", "Refund policy", "Refund after 45 days",
        "Ask for a refund for a purchase made 45 days ago", "The agent explains the 30-day refund policy", "weak"),
    "ca5e0000-0000-4000-8000-000000000005": (
        "5e7e0000-0000-4000-8000-000000000002", "Order tracking", "Where is my order",
        "Ask where order 4411 is", "The agent asks for the email and gives the tracking link", "pass"),
}
CASE_FIELDS = ("name", "description", "script", "rubric")


def k_error(status, error, message=None):
    """Kapso's Error schema (api/legacy/openapi.yaml components.schemas.Error):
    {error, status, message}."""
    return json_response(status, {"error": error, "status": status, "message": message or error})


class Suite:
    def __init__(self, suite_id, name, description, agent_id, wall):
        self.id = suite_id
        self.name = name
        self.description = description
        self.agent_id = agent_id
        self.created = self.updated = wall
        self.case_ids = []


class Case:
    def __init__(self, case_id, suite_id, fields, behaviour, wall):
        self.id = case_id
        self.suite_id = suite_id
        self.name = fields.get("name")
        self.description = fields.get("description")
        self.script = fields.get("script")
        self.rubric = fields.get("rubric")
        self.behaviour = behaviour
        self.created = self.updated = wall

    def to_json(self):
        return {"id": self.id, "name": self.name, "description": self.description, "script": self.script,
                "rubric": self.rubric, "test_suite_id": self.suite_id,
                "created_at": iso(self.created), "updated_at": iso(self.updated)}


class TestRun:
    __slots__ = ("id", "case", "executed", "t0", "start_wall", "created_wall", "duration", "thread_id",
                 "score", "feedback", "failure", "messages", "reported_terminal")

    def done(self, now):
        return self.executed and now >= self.t0 + self.duration


class Chat:
    __slots__ = ("id", "agent_id", "snapshot_id", "created_wall", "turns", "reply_delay")


class Kapso(Service):
    name = "kapso"
    prefixes = ("/kapso/",)

    def add_routes(self):
        r, p = self.router, PREFIX
        r.add("GET", p + "/agents/{agent_id}/test_suites", self.list_suites)
        r.add("POST", p + "/test_suites", self.create_suite)
        r.add("POST", p + "/test_suites/{suite_id}/test_cases", self.create_case)
        r.add("GET", p + "/test_cases/{case_id}", self.get_case)
        r.add("PATCH", p + "/test_cases/{case_id}", self.update_case)
        r.add("POST", p + "/test_cases/{case_id}/test_runs", self.create_run)
        r.add("GET", p + "/test_runs/{run_id}", self.get_run)
        r.add("POST", p + "/agents/{agent_id}/test_chats", self.agent_chat)
        r.add("POST", p + "/agent_snapshots/{snapshot_id}/test_chats", self.snapshot_chat)
        r.add("GET", p + "/test_chats/{chat_id}", self.get_chat)
        r.add("POST", p + "/test_chats/{chat_id}/resume", self.resume_chat)
        r.add("GET", p + "/test_suites/{suite_id}", self.get_suite)

    def reset(self):
        wall = self.ctx.clock.wall()
        self.counter = 0
        self.limiter = FixedWindow()
        self.suites = {}
        self.cases = {}
        for sid, (name, desc) in SEEDED_SUITES.items():
            self.suites[sid] = Suite(sid, name, desc, AGENT_ID, wall)
        for cid, (sid, name, desc, script, rubric, behaviour) in SEEDED_CASES.items():
            self.cases[cid] = Case(cid, sid, {"name": name, "description": desc, "script": script,
                                              "rubric": rubric}, behaviour, wall)
            self.suites[sid].case_ids.append(cid)
        self.runs = {}
        self.chats = {}

    def _new_id(self, kind):
        self.counter += 1
        return seeded_uuid(self.ctx.seed, self.name, kind, self.counter)

    # ------------------------------------------------------------ plumbing

    def route_path(self, path):
        return path[:-1] if len(path) > 1 and path.endswith("/") else path

    def error(self, status, message=None):
        shorts = {400: "Invalid parameters", 401: "Invalid or missing API key", 404: "Not found",
                  405: "Method not allowed", 422: "Unprocessable entity", 429: "Rate limit exceeded",
                  500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable",
                  504: "Gateway timeout"}
        resp = k_error(status, shorts.get(status, "HTTP %d" % status), message)
        if status == 429:
            resp.header("Retry-After", 60)
        return resp

    def dispatch(self, handler, req, params):
        key = req.headers.get("x-api-key")
        if key != API_KEY:
            return k_error(401, "Invalid or missing API key")
        limit = self.ctx.config["kapso_rate_limit"]
        allowed, remaining, _ = self.limiter.hit(key, limit)
        if not allowed:
            resp = k_error(429, "Rate limit exceeded",
                           "You have exceeded %d requests per minute. Try again later." % limit)
            resp.header("Retry-After", 60)
        else:
            resp = handler(req, **params)
        resp.header("X-RateLimit-Limit", limit)
        resp.header("X-RateLimit-Remaining", remaining)
        return resp

    def _wrapped(self, req, key):
        """The object inside {key: {...}}, or an error response."""
        try:
            body = req.json() if req.body else {}
        except (ValueError, UnicodeDecodeError):
            return None, k_error(400, "Invalid parameters", "The request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get(key), dict):
            return None, k_error(400, "Invalid parameters", "param is missing or the value is empty: %s" % key)
        return body[key], None

    # ------------------------------------------------------------ suites and cases

    def _suite_json(self, suite):
        return {"id": suite.id, "name": suite.name, "description": suite.description,
                "agent_id": suite.agent_id, "created_at": iso(suite.created), "updated_at": iso(suite.updated),
                "test_cases": [self.cases[c].to_json() for c in suite.case_ids]}

    def list_suites(self, req, agent_id):
        """listAgentTestSuites: every suite in one `{"data": [...]}`, no paging parameters."""
        if agent_id != AGENT_ID:
            return k_error(404, "Agent not found")
        suites = [s for s in self.suites.values() if s.agent_id == agent_id]
        return json_response(200, {"data": [self._suite_json(s) for s in suites]})

    def get_suite(self, req, suite_id):
        """getTestSuite: the suite with its test cases."""
        suite = self.suites.get(suite_id)
        if suite is None:
            return k_error(404, "Test suite not found")
        return json_response(200, {"data": self._suite_json(suite)})

    def create_suite(self, req):
        fields, err = self._wrapped(req, "test_suite")
        if err:
            return err
        if not isinstance(fields.get("name"), str) or not fields["name"].strip():
            return k_error(422, "Validation failed", "Name can't be blank")
        agent_id = fields.get("agent_id")
        if agent_id != AGENT_ID:
            return k_error(404, "Agent not found")
        suite = Suite(self._new_id("suite"), fields["name"], fields.get("description"), agent_id,
                      self.ctx.clock.wall())
        self.suites[suite.id] = suite
        return json_response(201, {"data": self._suite_json(suite)})

    def create_case(self, req, suite_id):
        suite = self.suites.get(suite_id)
        if suite is None:
            return k_error(404, "Test suite not found")
        fields, err = self._wrapped(req, "test_case")
        if err:
            return err
        if not isinstance(fields.get("name"), str) or not fields["name"].strip():
            return k_error(422, "Validation failed", "Name can't be blank")
        case = Case(self._new_id("case"), suite_id, {k: fields.get(k) for k in CASE_FIELDS}, "seeded",
                    self.ctx.clock.wall())
        self.cases[case.id] = case
        suite.case_ids.append(case.id)
        return json_response(201, {"data": case.to_json()})

    def get_case(self, req, case_id):
        case = self.cases.get(case_id)
        if case is None:
            return k_error(404, "Test case not found")
        return json_response(200, {"data": case.to_json()})

    def update_case(self, req, case_id):
        case = self.cases.get(case_id)
        if case is None:
            return k_error(404, "Test case not found")
        fields, err = self._wrapped(req, "test_case")
        if err:
            return err
        if "name" in fields and (not isinstance(fields["name"], str) or not fields["name"].strip()):
            return k_error(422, "Validation failed", "Name can't be blank")
        for key in CASE_FIELDS:
            if key in fields:
                setattr(case, key, fields[key])
        case.updated = self.ctx.clock.wall()
        return json_response(200, {"data": case.to_json()})

    # ------------------------------------------------------------ runs

    def create_run(self, req, case_id):
        case = self.cases.get(case_id)
        if case is None:
            return k_error(404, "Test case not found")
        try:
            body = req.json() if req.body else {}
        except (ValueError, UnicodeDecodeError):
            return k_error(400, "Invalid parameters", "The request body is not valid JSON")
        if not isinstance(body, dict) or ("agent_test_run" in body and not isinstance(body["agent_test_run"], dict)):
            return k_error(400, "Invalid parameters", "agent_test_run must be an object")
        run_now = body.get("run_now", False)  # the OpenAPI default: created, not run
        if not isinstance(run_now, bool):
            return k_error(400, "Invalid parameters", "run_now must be true or false")
        now = self.ctx.clock.now()
        run = TestRun()
        run.id = self._new_id("run")
        run.case = case
        run.executed = run_now
        run.t0 = now
        run.created_wall = run.start_wall = self.ctx.clock.wall(now)
        run.reported_terminal = False
        rng = rng_for(self.ctx.seed, self.name, run.id)
        run.duration = self.ctx.config.run_seconds(self.name, rng)
        run.thread_id = "thread_%010x" % rng.getrandbits(40) if run_now else None
        behaviour = case.behaviour
        if behaviour == "seeded":
            behaviour = "error" if rng.random() < 0.1 else ("pass" if rng.random() < 0.75 else "weak")
        run.failure = None
        run.score = run.feedback = None
        if behaviour == "error":
            run.failure = {"code": "agent_execution_failed",
                           "message": "The agent stopped responding during the conversation (timeout after 30s)."}
        elif behaviour == "pass":
            run.score = round(rng.uniform(8.0, 10.0), 1)
            run.feedback = "The agent performed well on this test: %s." % (case.rubric or "rubric met").rstrip(".")
        else:
            run.score = round(rng.uniform(3.0, 5.5), 1)
            run.feedback = "The agent only partly met the rubric (%s)." % (case.rubric or "no rubric").rstrip(".")
        run.messages = [{"role": "user", "content": case.script or "Hello"},
                        {"role": "assistant", "content": "Hi! I'm the support assistant. How can I help you today?"},
                        {"role": "user", "content": "Please answer my previous question."},
                        {"role": "assistant", "content": "Of course - here is what I can tell you."}]
        self.runs[run.id] = run
        return json_response(201, {"data": self._run_json(run, now)})

    def _run_json(self, run, now):
        done = run.done(now)
        if not run.executed:
            shown = []
        elif done:
            shown = run.messages if run.failure is None else run.messages[:2]
        else:
            shown = run.messages[: int(len(run.messages) * (now - run.t0) / max(run.duration, 1e-9))]
        ended = run.start_wall + run.duration
        return {
            "id": run.id, "thread_id": run.thread_id,
            "started_at": iso(run.start_wall) if run.executed else None,
            "ended_at": iso(ended) if done else None,
            "score": run.score if done and run.failure is None else None,
            "feedback": run.feedback if done and run.failure is None else None,
            "execution_completed": done,
            "conversation": {"messages": shown},
            "full_history": {"messages": shown, "tool_calls": []},
            "error": run.failure if done and run.failure is not None else None,
            "created_at": iso(run.created_wall), "updated_at": iso(ended if done else run.created_wall),
            "test_case": run.case.to_json(),
        }

    def get_run(self, req, run_id):
        run = self.runs.get(run_id)
        if run is None:
            return k_error(404, "Test run not found")
        now = self.ctx.clock.now()
        if run.reported_terminal:
            self.ctx.stats.poll_after_terminal(self.name)
        doc = self._run_json(run, now)
        if doc["execution_completed"]:
            run.reported_terminal = True
        return json_response(200, {"data": doc})

    # ------------------------------------------------------------ test chats

    def agent_chat(self, req, agent_id):
        if agent_id != AGENT_ID:
            return k_error(404, "Agent not found")
        return self._chat(req, agent_id, None)

    def snapshot_chat(self, req, snapshot_id):
        if snapshot_id != AGENT_SNAPSHOT_ID:
            return k_error(404, "Agent snapshot not found")
        return self._chat(req, AGENT_ID, snapshot_id)

    def _chat(self, req, agent_id, snapshot_id):
        try:
            body = req.json() if req.body else {}
        except (ValueError, UnicodeDecodeError):
            return k_error(400, "Invalid parameters", "The request body is not valid JSON")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return k_error(400, "Invalid parameters", "param is missing or the value is empty: message")
        now = self.ctx.clock.now()
        chat_id = body.get("agent_test_chat_id")
        if chat_id is not None:
            chat = self.chats.get(chat_id)
            if chat is None:
                return k_error(404, "Test chat not found")
            if self._chat_status(chat, now) == "processing":
                return k_error(422, "Unprocessable entity", "The test chat is still processing the previous message")
        else:
            chat = Chat()
            chat.id = self._new_id("chat")
            chat.agent_id = agent_id
            chat.snapshot_id = snapshot_id
            chat.created_wall = self.ctx.clock.wall(now)
            chat.turns = []
            chat.reply_delay = self.ctx.config.run_seconds(self.name, rng_for(self.ctx.seed, self.name, chat.id))
            self.chats[chat.id] = chat
        chat.turns.append((message, now))
        return json_response(201, {"data": self._chat_json(chat, now)})

    def _chat_status(self, chat, now):
        return "processing" if now < chat.turns[-1][1] + chat.reply_delay else "completed"

    def _chat_json(self, chat, now):
        conversation = []
        for i, (message, t) in enumerate(chat.turns):
            if message is not None:  # a resume injects a payload, not a user message
                conversation.append({"role": "user", "content": message})
            if now >= t + chat.reply_delay:
                conversation.append({"role": "assistant",
                                     "content": "Thanks for your message (%d). How else can I help?" % (i + 1)})
        last = chat.turns[-1][1]
        return {"id": chat.id, "agent_id": chat.agent_id, "agent_snapshot_id": chat.snapshot_id,
                "status": self._chat_status(chat, now), "conversation": conversation, "error": None,
                "created_at": iso(chat.created_wall), "updated_at": iso(self.ctx.clock.wall(last))}

    def resume_chat(self, req, chat_id):
        """resumeAgentTestChat: a completed chat continues, optionally with a payload message
        `{"message": {"type": "payload", "content": {...}}}`; the agent answers it."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return k_error(404, "Test chat not found")
        try:
            body = req.json() if req.body else {}
        except (ValueError, UnicodeDecodeError):
            return k_error(400, "Invalid parameters", "The request body is not valid JSON")
        message = body.get("message") if isinstance(body, dict) else None
        if message is not None and not (isinstance(message, dict) and message.get("type") == "payload"
                                        and isinstance(message.get("content", {}), dict)):
            return k_error(400, "Invalid parameters", "message must be {type: payload, content: {...}}")
        now = self.ctx.clock.now()
        if self._chat_status(chat, now) == "processing":
            return k_error(422, "Unprocessable entity", "Only a completed test chat can be resumed")
        chat.turns.append((None, now))
        return json_response(200, {"data": self._chat_json(chat, now)})

    def get_chat(self, req, chat_id):
        chat = self.chats.get(chat_id)
        if chat is None:
            return k_error(404, "Test chat not found")
        return json_response(200, {"data": self._chat_json(chat, self.ctx.clock.now())})

    def run_stats(self):
        now = self.ctx.clock.now()
        executed = [r for r in self.runs.values() if r.executed]
        return {"started": len(executed), "terminal": sum(1 for r in executed if r.done(now))}
