#!/usr/bin/env python3
"""Self-test of the sandbox (stdlib only): starts server.py, drives each service's lifecycle,
errors and quirks, a few faults and the control API, prints TAP, exits non-zero on failure.

    python3 tests/sandbox/selftest.py [-v]

Bounded in time: every wait polls a bounded number of times and a watchdog ends the
whole run after WATCHDOG_SECONDS.
"""

import base64
import http.client
import html
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
WATCHDOG_SECONDS = 120
VERBOSE = "-v" in sys.argv

SF_AUTH_FORM = "grant_type=client_credentials&client_id=sandbox-client-id&client_secret=sandbox-client-secret"
FI_KEYS = {"X-Api-Key": "fi-test-key", "X-Secret-Key": "fi-test-secret"}
KAPSO_KEY = {"X-API-Key": "kapso-test-key"}
GLOW_AUTH = {"Authorization": "Bearer glow-test-token"}
REFUND = "fae7d086-6466-4b40-b21f-13bb7e1d83fe"
ESCALATION = "0d6f3b8e-2a4c-4e1f-9b7d-3c5a8e1f2d40"
UNREACHABLE = "7a1e9c3d-5b2f-4d8e-a6c4-9e2b7d1f3a50"
DRAFT = "c4b8e2f6-1d3a-4c7e-8f5b-2a9d6e3c1b60"
AGENT_DEF = "87a193df-12a6-46e1-860d-d18ddb4a00cf"
TASK_COMPLETION_TEMPLATE = "5419b2e4-f155-4f0f-846f-0a3f848a74be"
SCORE_CONFIG = "e1d5a9c3-7f2b-4c6e-9a8d-4b3f1e7c2a80"
KAPSO_AGENT = "a9e70000-0000-4000-8000-000000000001"
KAPSO_GREETING = "ca5e0000-0000-4000-8000-000000000001"
KAPSO_ESCALATION = "ca5e0000-0000-4000-8000-000000000003"
GLOW_SUPPORT = "b3e1a7c0-0000-4000-8000-000000000001"


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)


class Sandbox:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"), "--seed", "42",
                                      "--exit-with-parent"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready:
            raise RuntimeError("sandbox did not print its URL within 10 s")
        self.base = self.proc.stdout.readline().decode().strip()
        if not self.base.startswith("http://127.0.0.1:"):
            raise RuntimeError("unexpected first line: %r" % self.base)
        self.port = int(self.base.rsplit(":", 1)[1])

    def request(self, method, path, body=None, headers=None, timeout=10):
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return Resp(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, body=None, headers=None):
        return self.request("POST", path, body, headers)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if diag is not None:
                for line in str(diag).splitlines()[:20]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))


def wait_for(check, tries=200, pause=0.05):
    """Call check() until it returns something truthy (bounded); returns the last value."""
    value = None
    for _ in range(tries):
        value = check()
        if value:
            return value
        time.sleep(pause)
    return value


# ---------------------------------------------------------------- generic

def test_generic(sb, t):
    r = sb.post("/_/echo?a=1&b=two", {"x": 1}, {"X-Thing": "yes"})
    d = r.json()
    t.ok(r.status == 200 and d["method"] == "POST" and d["query"] == {"a": "1", "b": "two"}
         and d["headers"]["x-thing"] == "yes" and d["json"] == {"x": 1} and d["body"] == '{"x": 1}',
         "echo returns method, query, lower-case headers, body and parsed JSON", d)
    r = sb.get("/_/status/503?retry_after=3")
    t.ok(r.status == 503 and r.headers.get("retry-after") == "3" and r.json() == {"status": 503},
         "status/503 with Retry-After seconds")
    r = sb.get("/_/status/429?retry_after_date=30")
    t.ok(r.status == 429 and r.headers.get("retry-after", "").endswith("GMT"), "status/429 with Retry-After date",
         r.headers)
    codes = [sb.get("/_/flaky?key=k1&fail=2&status=503").status for _ in range(3)]
    t.eq(codes, [503, 503, 200], "flaky fails the first N requests of a key, then answers 200")
    t.eq(sb.get("/_/count?key=k1").json(), {"key": "k1", "count": 3}, "count reports the hits on a flaky key")
    try:
        sb.get("/_/drop")
        t.ok(False, "drop closes the connection without a response")
    except (http.client.RemoteDisconnected, ConnectionError):
        t.ok(True, "drop closes the connection without a response")
    try:
        sb.get("/_/truncate")
        t.ok(False, "truncate sends less than its Content-Length")
    except http.client.IncompleteRead:
        t.ok(True, "truncate sends less than its Content-Length")
    r = sb.get("/_/truncated-json")
    try:
        json.loads(r.body)
        t.ok(False, "truncated-json is cut in half")
    except ValueError:
        t.ok(r.status == 200 and r.body.startswith(b'{"status"'), "truncated-json is cut in half")
    r = sb.get("/_/chunked?n=4&size=100")
    t.ok(r.headers.get("transfer-encoding") == "chunked" and len(r.body) == 400, "chunked body of n*size bytes")
    r = sb.get("/_/bytes/100000?json=1")
    t.ok(len(r.body) == 100000 and json.loads(r.body)["data"].startswith("x"), "bytes/N?json=1 is N bytes of JSON")
    r = sb.get("/_/bytes/3000000")
    t.ok(len(r.body) == 3000000, "bytes/3000000 streams 3 MB")
    r = sb.get("/_/deep?depth=100000")
    t.ok(r.body == b"[" * 100000 + b"]" * 100000, "deep nests 100,000 arrays")
    t0 = time.monotonic()
    r = sb.get("/_/delay/0.3")
    t.ok(r.status == 200 and time.monotonic() - t0 >= 0.3, "delay/0.3 answers after 0.3 s")
    t0 = time.monotonic()
    r = sb.get("/_/slow?chunks=4&interval=0.1")
    t.ok(r.status == 200 and time.monotonic() - t0 >= 0.29 and json.loads(r.body), "slow trickles a JSON body")
    r = sb.get("/_/html")
    t.ok(r.status == 200 and r.headers["content-type"].startswith("text/html"), "html is a 200 text/html page")
    r = sb.get("/_/wrong-type")
    t.ok(r.headers["content-type"] == "text/plain" and json.loads(r.body)["ok"], "wrong-type: JSON as text/plain")
    r = sb.get("/_/invalid-utf8")
    try:
        r.body.decode("utf-8")
        t.ok(False, "invalid-utf8 holds invalid UTF-8")
    except UnicodeDecodeError:
        t.ok(True, "invalid-utf8 holds invalid UTF-8")
    r = sb.get("/_/redirect/3")
    t.ok(r.status == 302 and r.headers["location"] == "/_/redirect/2", "redirect/N redirects to N-1")
    r = sb.get("/_/redirect-loop")
    t.ok(r.status == 302 and r.headers["location"] == "/_/redirect-loop", "redirect-loop points at itself")


# ---------------------------------------------------------------- agentforce

def sf_token(sb):
    r = sb.post("/sf/services/oauth2/token", SF_AUTH_FORM, {"Content-Type": "application/x-www-form-urlencoded"})
    return r.json()["access_token"], r


def sf_path(run_id="", version="v64.0", variant="ai-evaluations", tail=""):
    p = "/sfi/services/data/%s/einstein/%s/runs" % (version, variant)
    return p + ("/" + run_id if run_id else "") + tail


def sf_start(sb, tok, name, variant="ai-evaluations"):
    key = "aiEvaluationDefinitionName" if variant == "ai-evaluations" else "testDefinitionName"
    return sb.post(sf_path(variant=variant), {key: name}, {"Authorization": "Bearer " + tok})


def sf_wait(sb, tok, run_id, variant="ai-evaluations", terminal=("COMPLETED", "ERROR", "TERMINATED")):
    seen = []

    def check():
        s = sb.get(sf_path(run_id, variant=variant), {"Authorization": "Bearer " + tok}).json()
        if not seen or seen[-1] != s["status"]:
            seen.append(s["status"])
        return s if s["status"] in terminal else None
    return wait_for(check), seen


def sf_results_final(sb, tok, run_id, variant="ai-evaluations", terminal=("COMPLETED", "ERROR", "TERMINATED")):
    """Poll /results until the document itself is terminal (bounded); returns it."""
    path = sf_path(run_id, variant=variant, tail="/results")
    return wait_for(lambda: (lambda d: d if d["status"] in terminal else None)(
        sb.get(path, {"Authorization": "Bearer " + tok}).json()))


def test_agentforce(sb, t):
    tok, r = sf_token(sb)
    d = r.json()
    parts = tok.split(".")
    payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    t.ok(len(parts) == 3 and payload["exp"] - payload["iat"] == 1800 and d["issued_at"].isdigit()
         and len(d["issued_at"]) == 13 and d["instance_url"] == sb.base + "/sfi" and "expires_in" not in d
         and d["token_type"] == "Bearer" and d["token_format"] == "jwt",
         "token: JWT with exp/iat, issued_at in ms, instance_url, no expires_in", d)
    r = sb.post("/sf/services/oauth2/token", "grant_type=client_credentials&client_id=x&client_secret=y")
    t.eq((r.status, r.json()), (400, {"error": "invalid_client", "error_description": "invalid client credentials"}),
         "bad client credentials: 400 invalid_client")
    auth = {"Authorization": "Bearer " + tok}
    r = sb.get(sf_path("4KBSM0000000001AAA"), {"Authorization": "Bearer nope"})
    t.eq((r.status, r.json()), (401, [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]),
         "unknown token: 401 INVALID_SESSION_ID list")
    r = sf_start(sb, tok, "No_Such_Definition")
    t.eq((r.status, r.json()[0]["errorCode"], r.json()[0]["message"]),
         (500, "INTERNAL_SERVER_ERROR", "Invalid AiEvalDefinitionVersion identifier"),
         "unknown definition: the INTERNAL_SERVER_ERROR quirk")
    r = sf_start(sb, tok, "Guest_Experience_Agent")
    run_id = r.json()["runId"]
    t.ok(r.status == 200 and r.json()["status"] == "NEW" and run_id.startswith("4KB") and len(run_id) == 18,
         "start: runId 4KB... and NEW", r.body)
    partial = wait_for(lambda: (lambda d: d if any(c["status"] == "COMPLETED" for c in d["testCases"])
                                and d["status"] == "IN_PROGRESS" else None)(
        sb.get(sf_path(run_id, tail="/results"), auth).json()))
    t.ok(partial and any(c["status"] == "IN_PROGRESS" for c in partial["testCases"]),
         "results are partial while IN_PROGRESS")
    status, seen = sf_wait(sb, tok, run_id)
    t.ok(status and status["status"] == "COMPLETED" and "endTime" in status and seen[-1] == "COMPLETED"
         and "IN_PROGRESS" in seen, "status goes NEW/IN_PROGRESS -> COMPLETED", seen)
    res = sb.get(sf_path(run_id, tail="/results"), auth).json()
    t.eq(res["status"], "IN_PROGRESS", "results lag: still IN_PROGRESS right after status says COMPLETED")
    res = sf_results_final(sb, tok, run_id)
    case3 = res["testCases"][2]["testResults"]
    t.ok([r["result"] for r in case3] == ["PASS", "PASS", "FAILURE"] and "metricScore" not in case3[0],
         "v64.0 results use score/result; Guest case 3 fails bot_response_rating", case3)
    xml = ET.parse(os.path.join(HERE, "data", "Guest_Experience_Agent.aiEvaluationDefinition-meta.xml"))
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    want = [(" ".join(tc.find("m:inputs/m:utterance", ns).text.split()),
             [e.find("m:name", ns).text for e in tc.findall("m:expectation", ns)])
            for tc in xml.getroot().findall("m:testCase", ns)]
    got = [(" ".join(c["inputs"]["utterance"].split()), [r["name"] for r in c["testResults"]])
           for c in res["testCases"]]
    t.eq(got, want, "Guest_Experience_Agent cases match the XML definition's utterances and expectations")
    t.ok("metricScore" not in sb.get(sf_path(run_id, version="v63.0", tail="/results"), auth)
         .json()["testCases"][2]["testResults"][0], "the live shape (score/result) by default at v63.0 too")
    sb.post("/_control/config", {"agentforce_metrics": "auto"})
    old = sb.get(sf_path(run_id, version="v63.0", tail="/results"), auth).json()
    sb.post("/_control/config", {"agentforce_metrics": "score"})
    t.ok([r["metricScore"] for r in old["testCases"][2]["testResults"]] == ["PASS", "PASS", "FAILED"]
         and "result" not in old["testCases"][2]["testResults"][0],
         "configured \"auto\": v63.0 results use the seed's metricScore PASS/FAILED")
    before = sb.get("/_control/stats").json()["polls_after_terminal_by_service"]["agentforce"]
    sb.get(sf_path(run_id), auth)
    after = sb.get("/_control/stats").json()["polls_after_terminal_by_service"]["agentforce"]
    t.eq(after - before, 1, "a status poll after a reported terminal status is counted")

    runs = {n: sf_start(sb, tok, n).json()["runId"] for n in
            ("Broken_Agent_Run_Error", "Travel_Agent_Case_Error", "Local_Info_Agent_Quirks")}
    status, _ = sf_wait(sb, tok, runs["Broken_Agent_Run_Error"])
    t.ok(status and status["status"] == "ERROR" and status["errorMessage"], "a run can end ERROR with errorMessage")
    for run in runs.values():
        sf_results_final(sb, tok, run)
    res = sb.get(sf_path(runs["Broken_Agent_Run_Error"], tail="/results"), auth).json()
    t.ok(res["status"] == "ERROR" and [c["status"] for c in res["testCases"]] == ["COMPLETED", "ERROR", "ERROR"],
         "ERROR run results: completed case then ERROR cases", [c["status"] for c in res["testCases"]])
    res = sb.get(sf_path(runs["Travel_Agent_Case_Error"], tail="/results"), auth).json()
    case = res["testCases"][1]
    t.ok(case["status"] == "ERROR" and case["errorMessage"] and case["generatedData"] == {},
         "a test case with status ERROR carries errorMessage and empty generatedData")
    res = sb.get(sf_path(runs["Local_Info_Agent_Quirks"], tail="/results"), auth).json()
    quirks = res["testCases"][2]
    latency = [r for r in quirks["testResults"] if r["name"] == "output_latency_milliseconds"][0]
    t.ok(latency["result"] is None and latency["score"] == 1873 and latency["errorCode"] == 0
         and isinstance(quirks["generatedData"]["actionsSequence"], str)
         and "&#39;" in quirks["inputs"]["utterance"], "newer-generation quirks: null result, errorCode 0, entities")

    sb.post("/_control/config", {"max_in_progress": 2, "run_seconds": 5})
    first = [sf_start(sb, tok, "Order_Support_All_Pass") for _ in range(2)]
    third = sf_start(sb, tok, "Order_Support_All_Pass")
    t.ok(all(r.status == 200 for r in first) and third.status == 400
         and third.json()[0]["errorCode"] == "LIMIT_EXCEEDED", "at most max_in_progress runs in progress per org",
         third.body)
    r = sb.post(sf_path(first[0].json()["runId"], tail="/cancel"), None, auth)
    t.eq((r.status, r.json()), (200, {"success": True}), "cancel answers success")
    t.eq(sb.get(sf_path(first[0].json()["runId"]), auth).json()["status"], "TERMINATED",
         "a cancelled run is TERMINATED")
    t.eq(sf_start(sb, tok, "Order_Support_All_Pass").status, 200, "cancelling frees a slot")
    sb.post("/_control/config", {"max_in_progress": 10, "run_seconds": 1.0, "token_ttl": 1})
    short, _ = sf_token(sb)
    ok_now = sb.get(sf_path(first[1].json()["runId"]), {"Authorization": "Bearer " + short}).status
    time.sleep(1.1)
    later = sb.get(sf_path(first[1].json()["runId"]), {"Authorization": "Bearer " + short}).status
    t.eq((ok_now, later), (200, 401), "token_ttl: a token stops working when it expires")
    sb.post("/_control/config", {"token_ttl": 1800})
    tok, _ = sf_token(sb)
    sb.post("/_control/expire-tokens")
    t.eq(sb.get(sf_path(first[1].json()["runId"]), {"Authorization": "Bearer " + tok}).status, 401,
         "expire-tokens invalidates issued tokens")
    tok, _ = sf_token(sb)
    r = sf_start(sb, tok, "Billing_Agent_Regressions", variant="ai-testing")
    run_id = r.json()["runId"]
    status, _ = sf_wait(sb, tok, run_id, "ai-testing", ("SUCCESS", "FAILED", "TERMINATED"))
    res = sf_results_final(sb, tok, run_id, "ai-testing", ("SUCCESS", "FAILED", "TERMINATED"))
    t.ok(run_id.startswith("3A2") and status["status"] == "SUCCESS" and res["status"] == "SUCCESS"
         and len(res["testCases"]) == 4 and res["summary"]["totalNumberOfTestCases"] == 4,
         "ai-testing variant: 3A2 ids, SUCCESS, summary.totalNumberOfTestCases", res)
    encoded = res["testCases"][1]["testScorerResults"][0]["scorerResponse"]
    verdict = json.loads(html.unescape(encoded))
    subject = json.loads(html.unescape(res["testCases"][1]["subjectResponse"]))
    t.ok("&quot;" in encoded and verdict["evaluationType"].startswith("evaluator.") and "status" not in verdict
         and isinstance(subject["content"], dict) and subject["content"]["userInput"]
         and res["testCases"][1]["testCaseId"],
         "ai-testing: entity-encoded JSON strings, evaluationType, content object, testCaseId", res["testCases"][1])
    with open(os.path.join(HERE, "data", "agentforce_ai_testing_results.json")) as f:
        fixture = json.load(f)

    def shape(doc):
        case = doc["testCases"][0]
        return (set(doc), set(case), set(case["testScorerResults"][0]))
    t.ok(all(f <= s for f, s in zip(shape(fixture), shape(res))),
         "ai-testing results carry every field of the real document", (shape(fixture), shape(res)))


# ---------------------------------------------------------------- future agi

def fi(sb, method, path, body=None, headers=None):
    h = dict(FI_KEYS)
    h.update(headers or {})
    return sb.request(method, "/fi/simulate" + path, body, h)


def test_futureagi(sb, t):
    r = sb.get("/fi/simulate/run-tests/")
    t.ok(r.status == 401 and r.json()["code"] == "not_authenticated" and r.json()["status"] is False,
         "no keys: 401 not_authenticated envelope")
    r = sb.get("/fi/simulate/run-tests/", {"X-Api-Key": "x", "X-Secret-Key": "y"})
    t.eq((r.status, r.json()["code"]), (401, "authentication_failed"), "wrong keys: 401 authentication_failed")
    camel = {"name": "camel run", "agentDefinitionId": AGENT_DEF, "scenarioIds": [REFUND]}
    r = fi(sb, "POST", "/run-tests/create/", camel)
    t.ok(r.status == 400 and r.json()["type"] == "validation_error"
         and r.json()["details"].get("agentDefinitionId") == ["Unknown field."], "camelCase refused by default",
         r.body)
    sb.post("/_control/config", {"camel_case": True})
    r = fi(sb, "POST", "/run-tests/create/", camel)
    t.ok(r.status == 201 and r.json()["agent_definition"] == AGENT_DEF, "camel_case switch accepts camelCase", r.body)
    sb.post("/_control/config", {"camel_case": False})
    r = fi(sb, "POST", "/run-tests/create/", {"name": "camel run", "agent_definition_id": AGENT_DEF,
                                              "scenario_ids": [REFUND]})
    t.eq(r.status, 400, "run test names are unique")
    r = fi(sb, "POST", "/run-tests/create/", {
        "name": "selftest run", "agent_definition_id": AGENT_DEF, "scenario_ids": [REFUND, ESCALATION],
        "eval_config_ids": [SCORE_CONFIG],
        "evaluations_config": [{"template_id": TASK_COMPLETION_TEMPLATE, "name": "task_completion",
                                "mapping": {"input": "transcript"}},
                               {"template_id": "00000000-0000-4000-8000-000000000000", "name": "skipped"}]})
    rt = r.json()
    t.ok(r.status == 201 and len(rt["simulate_eval_configs"]) == 2 and rt["scenarios"] == [REFUND, ESCALATION]
         and rt["organization"] and rt["deleted"] is False, "create: 201 RunTest, unknown template skipped", r.body)
    r = fi(sb, "GET", "/run-tests/%s/status/" % rt["id"])
    t.eq((r.status, r.json()["status"]), (200, "not_found"), "status before any execution: 200 not_found")
    r = fi(sb, "POST", "/run-tests/%s/execute/" % rt["id"], {})
    ex = r.json()
    t.ok(r.status == 200 and ex["status"] == "started" and ex["total_calls"] == 5 and ex["total_scenarios"] == 2,
         "execute: started with total_calls", r.body)
    seen = []

    def check():
        s = fi(sb, "GET", "/run-tests/%s/status/" % rt["id"]).json()
        if not seen or seen[-1] != s["status"]:
            seen.append(s["status"])
        return s if s["status"] in ("completed", "failed", "cancelled") else None
    final = wait_for(check, pause=0.02)
    t.ok(final and final["execution_id"] == ex["execution_id"] and seen[-1] == "completed"
         and "running" in seen and "evaluating" in seen and final["completed_calls"] == 4
         and final["failed_calls"] == 1, "execution: pending/running/evaluating -> completed", (seen, final))
    before = sb.get("/_control/stats").json()["polls_after_terminal_by_service"]["futureagi"]
    fi(sb, "GET", "/run-tests/%s/status/" % rt["id"])
    after = sb.get("/_control/stats").json()["polls_after_terminal_by_service"]["futureagi"]
    t.eq(after - before, 1, "a status poll after every execution was shown terminal is counted")
    r = fi(sb, "GET", "/test-executions/%s/?page=1&limit=2" % ex["execution_id"])
    page = r.json()
    t.ok(page["count"] == 5 and len(page["results"]) == 2 and page["total_pages"] == 3 and page["next"]
         and page["status"] == "completed" and page["column_order"], "per-call results paginated", page)
    calls = fi(sb, "GET", "/test-executions/%s/?limit=10" % ex["execution_id"]).json()["results"]
    done = [c for c in calls if c["status"] == "completed"]
    outputs = [o for c in done for o in c["eval_outputs"].values()]
    t.ok(outputs and all(o["status"] == "completed" for o in outputs)
         and {o["type"] for o in outputs} == {"Pass/Fail", "score"} and done[0]["transcript"] == [],
         "calls carry eval_outputs (pass/fail and score); the list view sends transcript: []")
    detail = fi(sb, "GET", "/call-executions/%s/" % done[0]["id"]).json()
    t.ok(detail["id"] == done[0]["id"] and detail["transcript"]
         and {"speaker_role", "content"} <= set(detail["transcript"][0]),
         "call-executions/{id}/ carries the transcript (speaker_role + content rows)", detail["transcript"][:1])
    flt = json.dumps([{"column_id": "status", "filter_config": {"filter_type": "text", "filter_op": "equals",
                                                                 "filter_value": "completed"}}])
    only = fi(sb, "GET", "/test-executions/%s/?limit=10&filters=%s" % (ex["execution_id"], quote(flt))).json()
    t.ok(only["results"] and all(c["status"] == "completed" for c in only["results"]),
         "filters: a JSON array of {column_id, filter_config}")
    t.eq(fi(sb, "GET", "/test-executions/%s/?filters=%s" % (ex["execution_id"], quote('{"status": "x"}'))).status,
         400, "filters as an object is refused")
    summary = fi(sb, "GET", "/run-tests/%s/eval-summary/?execution_id=%s" % (rt["id"], ex["execution_id"])).json()
    kinds = {e["output_type"]: e for e in summary["result"]}
    t.ok(summary["status"] is True and "total_pass_rate" in kinds["Pass/Fail"] and "p50" in
         kinds["score"]["result"][0]["output"], "eval-summary: pass rate and score percentiles", summary)
    ex2 = fi(sb, "POST", "/run-tests/%s/execute/" % rt["id"], {"scenario_ids": [REFUND]}).json()
    t.ok(ex2["execution_id"] != ex["execution_id"] and ex2["total_calls"] == 3, "execute is not idempotent")
    r = fi(sb, "POST", "/test-executions/%s/cancel/" % ex2["execution_id"])
    st1 = fi(sb, "GET", "/run-tests/%s/status/" % rt["id"]).json()["status"]
    st2 = wait_for(lambda: (lambda s: s if s == "cancelled" else None)(
        fi(sb, "GET", "/run-tests/%s/status/" % rt["id"]).json()["status"]))
    t.ok(r.json()["success"] and st1 == "cancelling" and st2 == "cancelled", "cancel: cancelling -> cancelled")
    execs = fi(sb, "GET", "/run-tests/%s/executions/" % rt["id"]).json()
    t.ok(execs["count"] == 2 and execs["results"][0]["id"] == ex2["execution_id"], "executions list, newest first")
    r = fi(sb, "POST", "/run-tests/create/", {"name": "unreachable", "agent_definition_id": AGENT_DEF,
                                              "scenario_ids": [UNREACHABLE]})
    rt2 = r.json()
    fi(sb, "POST", "/run-tests/%s/execute/" % rt2["id"])
    final = wait_for(lambda: (lambda s: s if s["status"] in ("completed", "failed") else None)(
        fi(sb, "GET", "/run-tests/%s/status/" % rt2["id"]).json()))
    t.eq(final and final["status"], "failed", "an execution whose calls all fail ends failed")
    r = fi(sb, "POST", "/run-tests/create/", {"name": "draft", "agent_definition_id": AGENT_DEF,
                                              "scenario_ids": [DRAFT]})
    r = fi(sb, "POST", "/run-tests/%s/execute/" % r.json()["id"])
    t.ok(r.status == 400 and r.json()["result"]["error"] == "Scenarios incomplete",
         "execute with a scenario not ready: 400 Scenarios incomplete")
    for i in range(8):
        fi(sb, "POST", "/run-tests/create/", {"name": "bulk %d" % i, "agent_definition_id": AGENT_DEF,
                                              "scenario_ids": [REFUND]})
    page1 = fi(sb, "GET", "/run-tests/").json()
    page2 = fi(sb, "GET", "/run-tests/?page=2").json()
    t.ok(page1["count"] == 13 and len(page1["results"]) == 10 and page1["results"][0]["name"] == "bulk 7"
         and page2["previous"] and len(page2["results"]) == 3 and page1["total_pages"] == 2,
         "list run-tests: 10 a page, newest first", (page1["count"], [x["name"] for x in page1["results"]]))
    r = fi(sb, "DELETE", "/run-tests/%s/" % rt2["id"])
    t.eq((r.status, r.json(), fi(sb, "GET", "/run-tests/%s/" % rt2["id"]).status),
         (200, {"message": "Run test deleted successfully"}, 404), "delete is a soft delete answered with a message")
    r = fi(sb, "GET", "/run-tests/%s/status" % rt["id"])
    t.ok(r.status == 301 and r.headers["location"].endswith("/status/"), "a path without its slash gets a 301")


# ---------------------------------------------------------------- kapso

def kapso(sb, method, path, body=None, headers=None):
    h = dict(KAPSO_KEY)
    h.update(headers or {})
    return sb.request(method, "/kapso/api/v1" + path, body, h)


def test_kapso(sb, t):
    r = sb.get("/kapso/api/v1/test_runs/x")
    t.eq((r.status, r.json()), (401, {"error": "Invalid or missing API key", "status": 401,
                                      "message": "Invalid or missing API key"}),
         "no key: 401 with Kapso's Error schema {error, status, message}")
    r = kapso(sb, "GET", "/agents/%s/test_suites?per_page=1" % KAPSO_AGENT)
    d = r.json()
    t.ok(r.status == 200 and len(d["data"]) == 2 and "meta" not in d
         and d["data"][0]["test_cases"] and "x-ratelimit-remaining" in r.headers,
         "list suites: every suite in data, no paging, rate-limit headers", d)
    one = kapso(sb, "GET", "/test_suites/%s" % d["data"][0]["id"]).json()["data"]
    t.ok(one["id"] == d["data"][0]["id"] and one["test_cases"], "get a test suite with its test cases")
    r = kapso(sb, "POST", "/test_suites", {"test_suite": {"name": "Selftest", "agent_id": KAPSO_AGENT}})
    suite = r.json()["data"]
    r = kapso(sb, "POST", "/test_suites/%s/test_cases" % suite["id"],
              {"test_case": {"name": "Case A", "script": "Say hi", "rubric": "Says hi"}})
    case = r.json()["data"]
    t.ok(r.status == 201 and case["test_suite_id"] == suite["id"], "create suite and case: 201 wrapped")
    r = kapso(sb, "PATCH", "/test_cases/%s" % case["id"], {"test_case": {"name": ""}})
    t.eq((r.status, r.json()["error"]), (422, "Validation failed"), "blank name: 422")
    r = kapso(sb, "PATCH", "/test_cases/%s" % case["id"], {"test_case": {"rubric": "Says hello"}})
    t.eq(kapso(sb, "GET", "/test_cases/%s" % case["id"]).json()["data"]["rubric"], "Says hello", "patch a case")
    r = kapso(sb, "POST", "/test_cases/%s/test_runs" % KAPSO_GREETING, {"agent_test_run": {}, "run_now": True})
    run = r.json()["data"]
    t.ok(r.status == 201 and run["execution_completed"] is False and run["started_at"] and run["score"] is None,
         "create run: 201, running")
    done = wait_for(lambda: (lambda d: d if d["execution_completed"] else None)(
        kapso(sb, "GET", "/test_runs/%s" % run["id"]).json()["data"]))
    t.ok(done and done["ended_at"] and 0 <= done["score"] <= 10 and done["feedback"] and done["error"] is None,
         "run finishes with a 0-10 score and feedback", done)
    before = sb.get("/_control/stats").json()["polls_after_terminal_by_service"]["kapso"]
    kapso(sb, "GET", "/test_runs/%s" % run["id"])
    after = sb.get("/_control/stats").json()["polls_after_terminal_by_service"]["kapso"]
    t.eq(after - before, 1, "a poll of a run already shown finished is counted")
    r = kapso(sb, "POST", "/test_cases/%s/test_runs" % KAPSO_ESCALATION, {"agent_test_run": {}, "run_now": True})
    done = wait_for(lambda: (lambda d: d if d["execution_completed"] else None)(
        kapso(sb, "GET", "/test_runs/%s" % r.json()["data"]["id"]).json()["data"]))
    t.ok(done and done["error"] and done["score"] is None, "the escalation case ends with an error object")
    r = kapso(sb, "POST", "/test_cases/%s/test_runs" % KAPSO_GREETING, {"agent_test_run": {}})
    time.sleep(1.2)
    idle = kapso(sb, "GET", "/test_runs/%s" % r.json()["data"]["id"]).json()["data"]
    t.ok(idle["execution_completed"] is False and idle["started_at"] is None,
         "run_now defaults to false (the OpenAPI default): the run is never executed")
    r = kapso(sb, "POST", "/agents/%s/test_chats" % KAPSO_AGENT, {"message": "Hello"})
    chat = r.json()["data"]
    done = wait_for(lambda: (lambda d: d if d["status"] != "processing" else None)(
        kapso(sb, "GET", "/test_chats/%s" % chat["id"]).json()["data"]))
    t.ok(chat["status"] == "processing" and done and len(done["conversation"]) == 2, "test chat gets a reply")
    r = kapso(sb, "POST", "/test_chats/%s/resume" % chat["id"],
              {"message": {"type": "payload", "content": {"message_from_manager": "Send a reminder"}}})
    resumed = wait_for(lambda: (lambda d: d if d["status"] != "processing" else None)(
        kapso(sb, "GET", "/test_chats/%s" % chat["id"]).json()["data"]))
    t.ok(r.status == 200 and r.json()["data"]["status"] == "processing" and resumed
         and len(resumed["conversation"]) == 3 and resumed["conversation"][-1]["role"] == "assistant",
         "resume: a completed chat continues with a payload and the agent answers")
    sb.post("/_control/reset", {"keep_config": True})   # a fresh one-minute window
    sb.post("/_control/config", {"kapso_rate_limit": 2})
    codes = [kapso(sb, "GET", "/test_cases/%s" % KAPSO_GREETING) for _ in range(3)]
    last = codes[-1]
    t.ok([c.status for c in codes] == [200, 200, 429] and last.headers["retry-after"] == "60"
         and last.json()["error"] == "Rate limit exceeded" and last.headers["x-ratelimit-remaining"] == "0",
         "rate limit: 429 with Retry-After: 60", [c.status for c in codes])
    sb.post("/_control/config", {"kapso_rate_limit": 100000})


# ---------------------------------------------------------------- glow

def glow(sb, op, body=None, headers=None):
    h = dict(GLOW_AUTH)
    h.update(headers or {})
    return sb.request("POST", "/glow/api/v5/artifacts/test/" + op, body if body is not None else {}, h)


def test_glow(sb, t):
    r = sb.post("/glow/api/v5/artifacts/test/get", {"test_id": "x"})
    t.eq((r.status, r.json()), (401, {"detail": "Missing profile or session"}), "no token: 401 detail")
    r = glow(sb, "get", {"test_id": "nope"}, {"X-Bypass-Cache": "1"})
    t.eq((r.status, r.json()), (404, {"detail": "Benchmark test not found"}), "unknown test: 404")
    r = glow(sb, "get", {})
    t.ok(r.status == 422 and r.json()["detail"][0]["loc"] == ["body", "test_id"], "missing field: 422 list")
    test_id = glow(sb, "start", {"benchmark_id": GLOW_SUPPORT}).json()["test_id"]
    nxt = glow(sb, "next", {"test_id": test_id}).json()
    t.ok(nxt["current_run"] == 1 and nxt["total_runs"] == 3, "next returns the first pending run", nxt)
    first = glow(sb, "get", {"test_id": test_id})
    t.eq(first.headers.get("x-cache-hit"), "0", "first get is a cache miss")
    r = glow(sb, "run", {"test_id": test_id, "test_invocation_id": nxt["invocation_id"], "run_id": nxt["run_id"]})
    t.eq(r.json()["run_id"], nxt["run_id"], "run starts the replay")
    stale = glow(sb, "get", {"test_id": test_id})
    t.ok(stale.headers.get("x-cache-hit") == "1" and stale.json()["status_summary"]["in_progress"] == 0,
         "get without X-Bypass-Cache answers the stale cached document")

    def current():
        d = glow(sb, "get", {"test_id": test_id}, {"X-Bypass-Cache": "1"}).json()
        run = [x for x in d["runs"] if x["run_id"] == nxt["run_id"]][0]
        return d if run["status"] == "completed" else None
    d = wait_for(current)
    bound = [b for b in d["entries"]["runs"] if b["run_id"] == nxt["run_id"]]
    item = [x for x in d["runs"] if x["run_id"] == nxt["run_id"]][0]
    t.ok(d["status_summary"]["completed"] == 1 and len(bound) == 1 and item["chat_id"] == nxt["invocation_id"]
         and {m["role"] for m in d["entries"]["messages"] if m["run_id"] == nxt["run_id"]} == {"user", "assistant"}
         and "chats" not in d["entries"],
         "run completes: one binding in entries.runs, chat_id is the invocation id, messages by id",
         d["entries"])
    glow(sb, "get", {"test_id": test_id}, {"X-Bypass-Cache": "1"})
    pat = sb.get("/_control/stats").json()["polls_after_terminal_by_service"]["glow"]
    t.eq(pat, 1, "an unchanged get after a completed run counts as a poll after terminal")
    r = glow(sb, "end", {"test_id": test_id, "test_invocation_id": nxt["invocation_id"], "run_id": nxt["run_id"],
                         "score": 0.8, "passed": True, "feedback": "good"})
    t.ok(r.json()["grade_id"] and r.json()["score"] == 0.8, "end records a custom grade", r.body)
    d = glow(sb, "get", {"test_id": test_id}, {"X-Bypass-Cache": "1"}).json()
    inv = [i for i in d["invocations"] if i["invocation_id"] == nxt["invocation_id"]][0]
    run_item = [x for x in d["runs"] if x["run_id"] == nxt["run_id"]][0]
    t.ok(inv["grade_score"] == 0.8 and inv["grade_passed"] is True and run_item["grade_score"] == 0.8,
         "the grade shows in the invocation and the run item")
    for _ in range(2):
        n = glow(sb, "next", {"test_id": test_id}).json()
        glow(sb, "run", {"test_id": test_id, "test_invocation_id": n["invocation_id"], "run_id": n["run_id"]})
    r = glow(sb, "next", {"test_id": test_id})
    t.eq((r.status, r.json()), (400, {"detail": "No pending test run found"}), "next with nothing pending: 400")
    sb.post("/_control/config", {"glow_next_runs": True})
    other = glow(sb, "start", {"benchmark_id": GLOW_SUPPORT}).json()["test_id"]
    n2 = glow(sb, "next", {"test_id": other}).json()
    d2 = glow(sb, "get", {"test_id": other}, {"X-Bypass-Cache": "1"}).json()
    t.ok([b["run_id"] for b in d2["entries"]["runs"]] == [n2["run_id"]],
         "glow_next_runs: next already binds and starts the replay (the backend's next.py)")
    glow(sb, "run", {"test_id": other, "test_invocation_id": n2["invocation_id"], "run_id": n2["run_id"]})
    d2 = glow(sb, "get", {"test_id": other}, {"X-Bypass-Cache": "1"}).json()
    t.eq(len([x for x in d2["runs"] if x["run_id"] == n2["run_id"]]), 2,
         "glow_next_runs: a run after next replays a second time (run.py writes another binding)")
    sb.post("/_control/config", {"glow_next_runs": False})
    wait_for(lambda: glow(sb, "get", {"test_id": test_id}, {"X-Bypass-Cache": "1"}).json()["status"] == "completed")
    r = glow(sb, "end", {"test_id": test_id, "test_invocation_id": n["invocation_id"], "run_id": n["run_id"],
                         "grade": True})
    t.ok(r.json()["grade_id"] and isinstance(r.json()["passed"], bool) and r.json()["feedback"],
         "grade:true lets the server grade")
    r = glow(sb, "search", {"page_size": 1})
    t.ok(r.json()["total_count"] == 2 and len(r.json()["tests"]) == 1 and r.json()["actor_name"], "search")
    t.eq(glow(sb, "archive", {"test_ids": [test_id, other]}).json(), {"updated_count": 2}, "archive")
    t.eq(glow(sb, "search", {}).json()["total_count"], 0, "archived tests leave the default search")
    t.eq(glow(sb, "export", {"test_id": test_id}).json()["row_count"], 3, "export counts rows")
    t.ok(glow(sb, "refresh").json()["success"] and glow(sb, "docs", {}).json()["api_operations"], "refresh and docs")
    t2 = glow(sb, "start", {"benchmark_id": GLOW_SUPPORT, "infinite_mode": True}).json()["test_id"]
    n = glow(sb, "next", {"test_id": t2}).json()
    glow(sb, "run", {"test_id": t2, "test_invocation_id": n["invocation_id"], "run_id": n["run_id"]})
    r = glow(sb, "stop", {"invocation_id": n["invocation_id"]})
    d = glow(sb, "get", {"test_id": t2}, {"X-Bypass-Cache": "1"}).json()
    t.ok(r.json()["success"] and [x["status"] for x in d["runs"]][0] == "completed", "stop ends a running replay")


# ---------------------------------------------------------------- faults and control

def test_faults_and_control(sb, t):
    sb.post("/_control/faults", {"rules": [{"path": "^/kapso/", "times": 2, "status": 503, "retry_after": "date:5"}]})
    rs = [kapso(sb, "GET", "/test_cases/%s" % KAPSO_GREETING) for _ in range(3)]
    t.ok([r.status for r in rs] == [503, 503, 200] and rs[0].headers["retry-after"].endswith("GMT")
         and rs[0].json()["error"] == "Service unavailable", "status fault: service envelope, HTTP-date Retry-After",
         [(r.status, r.body) for r in rs])
    sb.post("/_control/faults", {"rules": [{"path": "/_/json", "action": "drop", "skip": 1}]})
    first = sb.get("/_/json").status
    try:
        sb.get("/_/json")
        dropped = False
    except (http.client.RemoteDisconnected, ConnectionError):
        dropped = True
    t.ok(first == 200 and dropped and sb.get("/_/json").status == 200, "drop fault after skip")
    sb.post("/_control/faults", {"rules": [{"path": "/_/json", "action": "truncate"}]})
    try:
        sb.get("/_/json")
        t.ok(False, "truncate fault cuts the real body")
    except http.client.IncompleteRead:
        t.ok(True, "truncate fault cuts the real body")
    sb.post("/_control/faults", {"rules": [{"path": "/_/json", "action": "html", "status": 502}]})
    r = sb.get("/_/json")
    t.ok(r.status == 502 and r.headers["content-type"].startswith("text/html"), "html fault")
    sb.post("/_control/faults", {"rules": [{"path": "/_/json", "action": "delay", "delay": 0.3}]})
    t0 = time.monotonic()
    t.ok(sb.get("/_/json").status == 200 and time.monotonic() - t0 >= 0.3, "delay fault")
    sb.post("/_control/faults", {"rules": [{"path": "^/_/echo", "rate": 0.25, "status": 500}]})
    codes = [sb.get("/_/echo").status for _ in range(200)]
    faults = sb.get("/_control/faults").json()["rules"]
    t.ok(20 < codes.count(500) < 80 and faults[-1]["applied"] == codes.count(500), "rate fault: about 25% faulted",
         codes.count(500))
    r = sb.request("DELETE", "/_control/faults")
    t.eq(sb.get("/_control/faults").json()["rules"], [], "DELETE clears the faults")
    r = sb.post("/_control/faults", {"rules": [{"action": "explode"}]})
    t.eq(r.status, 400, "an invalid fault rule is refused")
    r = sb.post("/_control/config", {"run_seconds": [30, 60], "services": {"glow": {"run_seconds": 2}}})
    cfg = sb.get("/_control/config").json()
    t.ok(r.status == 200 and cfg["run_seconds"] == [30, 60] and cfg["services"]["glow"]["run_seconds"] == 2,
         "config merges ranges and per-service settings")
    t.eq(sb.post("/_control/config", {"nope": 1}).status, 400, "unknown config keys are refused")
    sb.get("/_/echo", {"X-Api-Key": "super-secret", "Authorization": "Bearer abc.def"})
    log = sb.get("/_control/requests?since=0").json()
    entry = log["requests"][-1]
    t.ok(entry["headers"]["x-api-key"] == "[REDACTED]" and entry["headers"]["authorization"] == "Bearer [REDACTED]"
         and "super-secret" not in json.dumps(log), "request log redacts credentials")
    stats = sb.get("/_control/stats").json()
    t.ok(stats["requests"] > 100 and stats["by_path"].get("GET /_/echo", 0) >= 200
         and stats["runs"]["glow"]["started"] >= 4 and stats["max_connections"] >= 1, "stats", stats["runs"])
    sb.post("/_control/reset")
    stats = sb.get("/_control/stats").json()
    page = fi(sb, "GET", "/run-tests/").json()
    t.ok(stats["requests"] == 0 and stats["runs"]["agentforce"]["started"] == 0 and page["count"] == 1
         and sb.get("/_control/config").json()["run_seconds"] == 1.5, "reset returns to the seeded start")


def main():
    watchdog = threading.Timer(WATCHDOG_SECONDS, lambda: (print("Bail out! watchdog after %d s" % WATCHDOG_SECONDS),
                                                          sys.stdout.flush(), os._exit(2)))
    watchdog.daemon = True
    watchdog.start()
    t = Tap()
    sb = Sandbox()
    try:
        sb.post("/_control/config", {"run_seconds": 1.0, "status_results_lag": 0.6,
                                     "services": {"futureagi": {"run_seconds": 1.5}}})
        for group in (test_generic, test_agentforce, test_futureagi, test_kapso, test_glow, test_faults_and_control):
            try:
                group(sb, t)
            except Exception:
                t.ok(False, "%s raised" % group.__name__, traceback.format_exc())
            sb.request("DELETE", "/_control/faults")
    finally:
        code = sb.stop()
        t.eq(code, 0, "the sandbox exits 0 on SIGTERM")
        if VERBOSE:
            sys.stderr.write(sb.proc.stderr.read().decode(errors="replace"))
    print("1..%d" % t.n)
    watchdog.cancel()
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
