"""Salesforce Agentforce Testing API emulator.

My Domain at /sf (OAuth 2.0 client-credentials token), instance at /sfi with
services/data/v{version}/einstein/ai-evaluations/runs (start, status, results, cancel) and
the newer einstein/ai-testing/runs variant, and ai-testing/conversation-tests
(agentforce_conversation.py).  See README.md for the timeline of a run.
"""

import base64
import hashlib
import heapq
import hmac
import json
from urllib.parse import parse_qsl

import agentforce_conversation
import agentforce_definitions
from common import Service, iso, json_response, rng_for, sf_id

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
ORG_ID = sf_id("00D", 1)
USER_ID = sf_id("005", 1)

NEW_FRACTION = 0.1          # a run says NEW for the first 10% of its duration
TERMINAL = ("COMPLETED", "ERROR", "TERMINATED")
TESTING_STATUS = {"NEW": "NEW", "IN_PROGRESS": "IN_PROGRESS", "COMPLETED": "SUCCESS",
                  "ERROR": "FAILED", "TERMINATED": "TERMINATED"}
SCORER_NAMES = {"topic": "Topic Evaluation", "action": "Action Evaluation",
                "bot_response_rating": "Response Evaluation", "output_validation": "Response Evaluation"}

API = "/sfi/services/data/v{version}/einstein/"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sf_error(status, code, message):
    return json_response(status, [{"errorCode": code, "message": message}])


class Run:
    """One test run; its state is a pure function of the monotonic clock."""

    __slots__ = ("id", "variant", "definition", "cases", "t0", "start_wall", "duration",
                 "cancelled_at", "reported_terminal")

    def __init__(self, run_id, variant, definition, cases, t0, start_wall, duration):
        self.id = run_id
        self.variant = variant
        self.definition = definition
        self.cases = cases
        self.t0 = t0
        self.start_wall = start_wall
        self.duration = duration
        self.cancelled_at = None
        self.reported_terminal = False

    def terminal_at(self):
        end = self.t0 + self.duration
        return min(end, self.cancelled_at) if self.cancelled_at is not None else end

    def phase(self, now):
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return "TERMINATED"
        e = now - self.t0
        if e >= self.duration:
            return self.definition.outcome
        return "NEW" if e < NEW_FRACTION * self.duration else "IN_PROGRESS"

    def wall(self, t):
        return self.start_wall + (t - self.t0)


class Agentforce(Service):
    name = "agentforce"
    prefixes = ("/sf/", "/sfi/")

    def __init__(self, ctx):
        self.definitions = agentforce_definitions.build(ctx.seed)
        self.jwt_key = hashlib.sha256(("%s:agentforce-jwt" % ctx.seed).encode()).digest()
        super().__init__(ctx)

    def add_routes(self):
        r = self.router
        r.add("POST", "/sf/services/oauth2/token", self.token)
        r.add("POST", "/sfi/services/oauth2/token", self.token)
        for variant in ("ai-evaluations", "ai-testing"):
            base = API + variant + "/runs"
            r.add("POST", base, lambda req, version, v=variant: self.start(req, version, v))
            r.add("GET", base + "/{runId}", lambda req, version, runId, v=variant: self.status(req, version, runId, v))
            r.add("GET", base + "/{runId}/results",
                  lambda req, version, runId, v=variant: self.results(req, version, runId, v))
            r.add("POST", base + "/{runId}/cancel",
                  lambda req, version, runId, v=variant: self.cancel(req, version, runId, v))
        agentforce_conversation.add_routes(self)

    def reset(self):
        self.runs = {}
        self.tokens = {}
        self.active = set()
        self.active_heap = []
        self.counters = {"ai-evaluations": 0, "ai-testing": 0}
        self.token_counter = 0
        agentforce_conversation.reset(self)

    # ------------------------------------------------------------ plumbing

    def route_path(self, path):
        return path[:-1] if len(path) > 1 and path.endswith("/") else path

    def error(self, status, message=None):
        codes = {400: "INVALID_INPUT", 401: "INVALID_SESSION_ID", 403: "INSUFFICIENT_ACCESS",
                 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 429: "REQUEST_LIMIT_EXCEEDED",
                 500: "INTERNAL_SERVER_ERROR", 503: "SERVER_UNAVAILABLE"}
        defaults = {401: "Session expired or invalid",
                    404: "The requested resource does not exist",
                    503: "Server temporarily unavailable; try again later."}
        code = codes.get(status, "UNKNOWN_EXCEPTION" if status >= 500 else "INVALID_INPUT")
        return sf_error(status, code, message or defaults.get(status, "HTTP %d" % status))

    def method_not_allowed(self, req, allowed):
        return sf_error(405, "METHOD_NOT_ALLOWED", "HTTP Method '%s' not allowed. Allowed are %s"
                        % (req.method, ",".join(sorted(set(allowed))))).header("Allow", ", ".join(sorted(set(allowed))))

    def dispatch(self, handler, req, params):
        if handler != self.token:
            if not self._authorized(req):
                return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            version = params.get("version", "")
            major, dot, minor = version.partition(".")
            if not (major.isdigit() and dot and minor.isdigit()):
                return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return handler(req, **params)

    def _authorized(self, req):
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            return False
        expiry = self.tokens.get(token.strip())
        return expiry is not None and self.ctx.clock.now() < expiry

    def expire_tokens(self):
        """Control hook: every token issued so far stops working (as if its exp had passed)."""
        n = len(self.tokens)
        self.tokens.clear()
        return n

    # ------------------------------------------------------------ token

    def token(self, req):
        params = dict(parse_qsl(req.query_string))
        if req.body:
            params.update(parse_qsl(req.body.decode("utf-8", "replace")))
        if params.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if params.get("client_id") != CLIENT_ID or params.get("client_secret") != CLIENT_SECRET:
            return json_response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        clock = self.ctx.clock
        now_wall = clock.wall()
        ttl = self.ctx.config["token_ttl"]
        self.token_counter += 1
        base = self.ctx.base_url
        header = {"tnk": "core/prod/" + ORG_ID[:15], "ver": "1.0", "kid": "CORE_ATJWT.%s.1" % ORG_ID[:15],
                  "typ": "JWT", "clv": "J2.1.1", "alg": "HS256"}
        payload = {"scp": ["chatter_api", "api"], "aud": [base + "/sf"], "sub": "uid:" + USER_ID,
                   "nbf": int(now_wall), "mty": "oauth", "sfi": "sandbox", "roles": [],
                   "iss": base + "/sf", "hsc": False, "exp": int(now_wall + ttl), "iat": int(now_wall),
                   "client_id": CLIENT_ID, "jti": "sandbox-%d" % self.token_counter}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(payload, separators=(",", ":")).encode())
        sig = _b64url(hmac.new(self.jwt_key, signing_input.encode(), hashlib.sha256).digest())
        access_token = signing_input + "." + sig
        self.tokens[access_token] = clock.now() + ttl
        identity = "%s/sf/id/%s/%s" % (base, ORG_ID, USER_ID)
        issued_at = str(int(now_wall * 1000))
        signature = base64.b64encode(hmac.new(CLIENT_SECRET.encode(), (identity + issued_at).encode(),
                                              hashlib.sha256).digest()).decode()
        return json_response(200, {
            "access_token": access_token, "signature": signature, "token_format": "jwt",
            "scope": "chatter_api api", "instance_url": base + "/sfi", "id": identity,
            "token_type": "Bearer", "issued_at": issued_at})

    # ------------------------------------------------------------ runs

    def _in_progress(self, now):
        heap = self.active_heap
        while heap and heap[0][0] <= now:
            _, run_id = heapq.heappop(heap)
            self.active.discard(run_id)
        return len(self.active)

    def start(self, req, version, variant):
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError) as e:
            return sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON: %s" % e)
        key = "aiEvaluationDefinitionName" if variant == "ai-evaluations" else "testDefinitionName"
        name = body.get(key) if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return sf_error(400, "INVALID_INPUT", "Missing required field: %s" % key)
        definition = self.definitions.get(name)
        if definition is None:
            return sf_error(500, "INTERNAL_SERVER_ERROR", "Invalid AiEvalDefinitionVersion identifier")
        now = self.ctx.clock.now()
        limit = self.ctx.config["max_in_progress"]
        if self._in_progress(now) >= limit:
            return sf_error(400, "LIMIT_EXCEEDED",
                            "You can run at most %d tests at the same time in this org. "
                            "Wait for a test run to finish, then try again." % limit)
        self.counters[variant] += 1
        run_id = sf_id("4KB" if variant == "ai-evaluations" else "3A2", self.counters[variant])
        rng = rng_for(self.ctx.seed, self.name, run_id)
        duration = self.ctx.config.run_seconds(self.name, rng)
        run = Run(run_id, variant, definition, definition.cases(rng), now, self.ctx.clock.wall(now), duration)
        self.runs[run_id] = run
        self.active.add(run_id)
        heapq.heappush(self.active_heap, (run.terminal_at(), run_id))
        return json_response(200, {"runId": run_id, "status": "NEW"})

    def _run(self, run_id, variant):
        run = self.runs.get(run_id)
        return run if run is not None and run.variant == variant else None

    def status(self, req, version, runId, variant):
        run = self._run(runId, variant)
        if run is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        now = self.ctx.clock.now()
        phase = run.phase(now)
        terminal = phase in TERMINAL
        if run.reported_terminal:
            self.ctx.stats.poll_after_terminal(self.name)
        if terminal:
            run.reported_terminal = True
        doc = {"status": phase if variant == "ai-evaluations" else TESTING_STATUS[phase],
               "startTime": iso(run.start_wall, "ms")}
        if terminal:
            doc["endTime"] = iso(run.wall(run.terminal_at()), "ms")
            if phase == "ERROR":
                doc["errorMessage"] = run.definition.error_message
        return json_response(200, doc)

    def cancel(self, req, version, runId, variant):
        run = self._run(runId, variant)
        if run is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        now = self.ctx.clock.now()
        phase = run.phase(now)
        if phase in TERMINAL:
            return sf_error(400, "INVALID_INPUT", "The test run is already in a terminal state: %s" % phase)
        run.cancelled_at = now
        self.active.discard(run.id)
        return json_response(200, {"success": True})

    def results(self, req, version, runId, variant):
        run = self._run(runId, variant)
        if run is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        now = self.ctx.clock.now()
        phase = run.phase(now)
        lagged = run.phase(now - self.ctx.config["status_results_lag"])
        if lagged in TERMINAL:
            status = phase
        else:
            status = "NEW" if phase == "NEW" else "IN_PROGRESS"
        cases = [] if status == "NEW" else self._render_cases(run, min(now, run.terminal_at()), phase)
        if variant == "ai-testing":
            return json_response(200, self._testing_doc(run, status, cases))
        if self._metric_generation(version) == "metricScore":
            cases = [_to_metric_score(c) for c in cases]
        terminal = status in TERMINAL
        doc = {"status": status, "startTime": iso(run.start_wall),
               "endTime": iso(run.wall(run.terminal_at())) if terminal else None,
               "errorMessage": run.definition.error_message if status == "ERROR" else None,
               "subjectName": run.definition.subject, "testCases": cases}
        return json_response(200, doc)

    def _metric_generation(self, version):
        mode = self.ctx.config["agentforce_metrics"]
        if mode != "auto":
            return mode
        return "metricScore" if float(version) < 64.0 else "score"

    def _render_cases(self, run, t, phase):
        """Test cases as they stand at monotonic time `t` (partial while the run is in progress)."""
        defn = run.definition
        cases = run.cases
        n = len(cases)
        k = defn.completes if defn.completes is not None else n
        base = NEW_FRACTION * run.duration
        window = (1 - NEW_FRACTION) * run.duration * (0.5 if defn.completes is not None else 1.0)
        e = t - run.t0
        out = []
        for i, case in enumerate(cases):
            entry = {"status": "IN_PROGRESS", "testNumber": i + 1,
                     "inputs": case.get("inputs") or {"utterance": case["utterance"]}}
            if i >= k:
                if phase == "ERROR":
                    entry.update(status="ERROR", startTime=iso(run.wall(run.t0 + base)),
                                 endTime=iso(run.wall(run.terminal_at())), generatedData={},
                                 testResults=[], errorMessage="The test case was not run: " + defn.error_message)
                elif phase == "TERMINATED":
                    entry.update(status="TERMINATED", generatedData={}, testResults=[])
                else:
                    entry.update(generatedData={}, testResults=[])
                out.append(entry)
                continue
            t_start = base + window * i / k
            t_gen = base + window * (i + 0.5) / k
            t_done = base + window * (i + 1) / k
            if e >= t_start:
                entry["startTime"] = iso(run.wall(run.t0 + t_start))
            if e < t_gen:
                entry.update(generatedData={}, testResults=[])
                if phase == "TERMINATED":
                    entry["status"] = "TERMINATED"
                out.append(entry)
                continue
            results = case["testResults"]
            m = len(results) or 1
            shown = []
            for j, r in enumerate(results):
                t_r = t_gen + (t_done - t_gen) * (j + 1) / m
                if e < t_r - 1e-9:
                    break
                shown.append(_timed_result(r, run.wall(run.t0 + t_gen), run.wall(run.t0 + t_r)))
            entry["generatedData"] = case["generatedData"]
            entry["testResults"] = shown
            if e >= t_done - 1e-9:
                entry["status"] = case.get("status", "COMPLETED")
                entry["endTime"] = iso(run.wall(run.t0 + t_done))
                if case.get("errorMessage"):
                    entry["errorMessage"] = case["errorMessage"]
            elif phase == "TERMINATED":
                entry["status"] = "TERMINATED"
            out.append(entry)
        return out

    def _testing_doc(self, run, status, cases):
        """The ai-testing (Agentforce Testing API, v66) results shape: finished cases only, each
        with a testCaseId; the agent's answer and each scorer's verdict are JSON documents sent
        as HTML-entity-encoded strings (forcedotcom/agents test/agentTesterNGT.test.ts); a scorer
        is identified by the evaluationType in its response, scorerName is a display name
        (Salesforce's "Run Tests with Agentforce Testing Connect API" guide).  Scorers carry
        actualValue/expectedValue, equal when the scorer passed, different when it failed
        (test/mocks/einstein_ai-testing_runs_3A2SM000000003F4AQ_results/1.json), and no status:
        Salesforce's client judges them by that equality (src/agentforceStudioTester.ts)."""
        out = []
        for entry, case in zip(cases, run.cases):
            if entry["status"] not in ("COMPLETED", "ERROR"):
                continue
            number = entry["testNumber"]
            response = case.get("response") or case["generatedData"].get("outcome", "")
            scorers = []
            latency = None
            for r in entry["testResults"]:
                name = r["name"]
                if name == "output_latency_milliseconds":
                    latency = r.get("score")
                display = SCORER_NAMES.get(name) or SCORER_NAMES.get(name.split("_")[0]) or \
                    name.replace("_", " ").title()
                verdict = {"evaluationType": "evaluator." + name, "score": r.get("score"),
                           "reasoning": r.get("metricExplainability") or ""}
                if r.get("result") == "PASS":  # the mock's passing scorer: actual equals expected
                    verdict["actualValue"] = verdict["expectedValue"] = r.get("expectedValue")
                elif r.get("actualValue") or r.get("expectedValue") or r.get("result") is not None:
                    verdict["actualValue"] = r.get("actualValue")
                    verdict["expectedValue"] = r.get("expectedValue")
                scorers.append({"scorerName": display,
                                "scorerResponse": agentforce_definitions.ent(json.dumps(verdict))})
            content = {"userInput": case["utterance"], "response": response}
            content.update(_testing_inputs(case.get("inputs") or {}))
            subject = {"content": content,
                       "performance": {"latencyMs": latency if latency is not None else 700 + 113 * number,
                                       "tokenUsage": {"inputTokens": 40 + 7 * number,
                                                      "outputTokens": 20 + len(response.split()),
                                                      "totalTokens": 60 + 7 * number + len(response.split())}}}
            out.append({"testCaseId": sf_id("4TC", run_ordinal(run.id) * 1000 + number),
                        "subjectResponse": agentforce_definitions.ent(json.dumps(subject)),
                        "testNumber": number, "testScorerResults": scorers})
        return {"status": TESTING_STATUS[status],
                "summary": {"totalNumberOfTestCases": len(run.cases)},
                "testCases": out}

    def run_stats(self):
        now = self.ctx.clock.now()
        started, terminal = agentforce_conversation.run_counts(self, now)
        return {"started": len(self.runs) + started,
                "terminal": sum(1 for r in self.runs.values() if r.phase(now) in TERMINAL) + terminal}


def _testing_inputs(inputs):
    """A case's contextVariable / conversationHistory in the ai-testing names (NgtTestCaseInput:
    contextVariables [{name, value}], conversationHistory; forcedotcom/agents src/types.ts), carried
    in subjectResponse.content beside userInput *(inferred: no captured document shows them)*."""
    out = {}
    if inputs.get("contextVariable"):
        out["contextVariables"] = [{"name": v["variableName"], "value": v["variableValue"]}
                                   for v in inputs["contextVariable"]]
    if inputs.get("conversationHistory"):
        out["conversationHistory"] = inputs["conversationHistory"]
    return out


def run_ordinal(run_id):
    """The counter a sandbox run id was made from (its 9 base-36 digits)."""
    return int(run_id[6:15], 36)


def _timed_result(r, start_wall, end_wall):
    out = dict(r)
    out["status"] = "COMPLETED"
    out["startTime"] = iso(start_wall)
    out["endTime"] = iso(end_wall)
    return out


def _to_metric_score(case):
    """The seed's (v63.0) generation: metricScore PASS | FAILED instead of score + result."""
    converted = []
    for r in case["testResults"]:
        r = dict(r)
        result = r.pop("result", None)
        r.pop("score", None)
        r["metricScore"] = {"PASS": "PASS", "FAILURE": "FAILED"}.get(result)
        converted.append(r)
    case = dict(case)
    case["testResults"] = converted
    return case
