"""Salesforce conversation-level tests (Agentforce Testing API): the service plays the caller.

A test case gives a goal; the simulated caller talks to the agent until the goal is reached,
the turn budget (maxTurns) runs out or the agent fails, then scorers grade the conversation.

Sources (see README.md, "Conversation-level tests"):
- Salesforce's guide "Run Conversational and Voice Tests in Connect API"
  (developer.salesforce.com/docs/ai/agentforce/guide/testing-api-conversational.html): a goal
  and a turn budget; Run (asynchronous, answers the workbook = test suite, worksheet = run
  status and row ids), Get Status, Get Results; ephemeral runs that save no suite.
- @salesforce/agents' published types (forcedotcom.github.io/agents, types.*):
  EphemeralConversationTestInput (body of POST conversation-tests/ephemeral-run: an agent
  target {agentId, agentVersionId} | {projectId, projectVersionId}, enableSimulationMode,
  maxTurns, persona, previewConfig, testCases), ConversationTestCaseInput {number,
  conversationGoal, contextVariables [{variableName, variableValue}], scorers [{name,
  expectedValue}], connections}, ConversationTestResultsResponse {status Completed | Failed,
  summary (omitted until complete) {totalNumberOfTestCases, taskResolutionPassPercent,
  acceptanceCriteriaPassPercent}, testCases [{testNumber, subjectResponse, testScorerResults
  [{scorerName, scorerResponse}]}], errorRepresentation {errorCode, errorMessage, retryable}},
  ConversationScorerOutcome {status PASS | FAIL | ERROR, score, reasoning} inside scorerResponse,
  CltTestCase (no scorers: task_resolution only, the server default), ConversationPersona,
  ConversationEvaluationMode (not accepted when running without saving), and
  ConversationTester.runEphemeral (synchronous; rejected input is HTTP 200 status Failed with
  no test cases; a Failed run with test cases, e.g. an agent failing mid-conversation; JSON
  string fields HTML-entity-encoded).
- Everything else -- the saved-run paths and field names, the statuses before Completed, the
  turns inside subjectResponse, evaluationType in a scorer's answer, row ids on the results,
  the simulated agent -- is *(inferred)*.
"""

import json

from agentforce_definitions import ent
from common import iso, json_response, rng_for, sf_id

TESTS = "/sfi/services/data/v{version}/einstein/ai-testing/conversation-tests"

# The org's agents the conversation endpoints know: {agentId, agentVersionId} of a published
# agent, {projectId, projectVersionId} of a draft (ids *(inferred)* prefixes).
AGENTS = {("agentId", sf_id("0Xx", 1)): ("agentVersionId", sf_id("0X9", 1), "Service_Agent"),
          ("projectId", sf_id("1Pj", 1)): ("projectVersionId", sf_id("1Pv", 1), "Service_Agent_Draft")}
SCORERS = {"task_resolution": "Task Resolution Evaluation", "acceptance_criteria": "Acceptance Criteria Evaluation"}
DEFAULT_MAX_TURNS = 10
NEW_FRACTION = 0.1
# Saved-run statuses; Completed and Failed are the documented ones.
STATUS = {"NEW": "New", "IN_PROGRESS": "InProgress", "COMPLETED": "Completed", "FAILED": "Failed"}


class Rejected(Exception):
    """Input the service refuses: ephemeral runs answer it as status Failed, saved runs as a 400."""


# ---------------------------------------------------------------- the simulated conversation

# The sandbox's agent, by what the goal asks: (caller, agent, topic, actions) per exchange.
PASSWORD = [("I can't log in. I need to reset my password.", "I can help. What's the email on your account?",
             "Account_Access", []),
            ("It's jo@example.com.", "I sent a verification code to jo@example.com. Please read it to me.",
             "Account_Access", ["Send_Verification_Code"]),
            ("The code is 482913.", "Thanks. Your password is reset: you can log in now.",
             "Account_Access", ["Verify_Code", "Reset_Password"])]
REFUND = ("I want a refund for my last order.", "I'm sorry, I can't help with refunds here.", "General_FAQ", [])


def _simulate(goal, max_turns, context):
    """(turns, completion reason, goal reached, error) of one conversation toward `goal`."""
    low = goal.lower()
    name = next((c["variableValue"] for c in context if c.get("variableName") == "CustomerName"), None)
    if "password" in low:
        script, reached = PASSWORD, True
    elif "refund" in low:
        script, reached = [REFUND] * max_turns, False
    elif "crash" in low:
        script, reached = [("Hello, " + goal, "One moment while I look that up.", "General_FAQ", [])] * 2, False
    else:
        script, reached = [(goal, "Done: " + goal.rstrip(".") + ".", "General_FAQ", [])], True
    turns, error = [], None
    for i, (caller, agent, topic, actions) in enumerate(script[:max_turns]):
        if "crash" in low and i == 1:
            error = "The agent stopped responding: System.LimitException: Apex CPU time limit exceeded"
            turns.append({"role": "user", "message": caller})
            break
        if i == 0 and name:
            agent = "Hi %s! %s" % (name, agent)
        turns.append({"role": "user", "message": caller})
        turns.append({"role": "agent", "message": agent, "topic": topic, "actions": actions})
    if error:
        return turns, "AGENT_ERROR", False, error
    if reached and len(script) <= max_turns:
        return turns, "GOAL_REACHED", True, None
    return turns, "MAX_TURNS_REACHED", False, None


def _scorer(name, outcome, expected):
    """(status, the testScorerResults entry) of scorer `name` on one conversation."""
    status = "ERROR" if outcome["error"] else ("PASS" if outcome["reached"] else "FAIL")
    if name == "task_resolution":  # graded 0-5 (@salesforce/agents ngtScorerCatalog: LLM_0_5)
        score = {"PASS": 5, "FAIL": 1, "ERROR": 0}[status]
        reasoning = {"PASS": "The agent resolved the caller's goal.",
                     "FAIL": "The conversation ended (%s) without resolving the caller's goal." % outcome["reason"],
                     "ERROR": outcome["error"]}[status]
    else:
        score = 1 if status == "PASS" else 0
        reasoning = ("The conversation meets the acceptance criteria: " if status == "PASS"
                     else "The conversation does not meet the acceptance criteria: ") + expected
    verdict = {"evaluationType": "evaluator." + name, "status": status, "score": score, "reasoning": reasoning}
    return status, {"scorerName": SCORERS[name], "scorerResponse": ent(json.dumps(verdict))}


def _case_result(tc, max_turns, verdicts):
    """One test case's result; appends (scorer, status) to `verdicts`; the error if the agent failed."""
    turns, reason, reached, error = _simulate(tc["conversationGoal"], max_turns, tc.get("contextVariables") or [])
    outcome = {"reason": reason, "error": error, "reached": reached}
    subject = {"turns": turns, "completionReason": reason,
               "numberOfTurns": sum(1 for t in turns if t["role"] == "user")}
    if error:
        subject["errorMessage"] = error
    scored = []
    for s in tc.get("scorers") or [{"name": "task_resolution"}]:
        status, entry = _scorer(s["name"], outcome, s.get("expectedValue") or "")
        verdicts.append((s["name"], status))
        scored.append(entry)
    return {"testNumber": tc["number"], "subjectResponse": ent(json.dumps(subject)),
            "testScorerResults": scored}, error


def _summary(n, verdicts):
    summary = {"totalNumberOfTestCases": n}
    for key, name in (("taskResolutionPassPercent", "task_resolution"),
                      ("acceptanceCriteriaPassPercent", "acceptance_criteria")):
        statuses = [status for scorer, status in verdicts if scorer == name]
        if statuses:
            summary[key] = round(100.0 * statuses.count("PASS") / len(statuses), 1)
    return summary


# ---------------------------------------------------------------- request checks

def _check(body, saved):
    """The test cases of a valid request body; Rejected with Salesforce-style text otherwise."""
    if not isinstance(body, dict):
        raise Rejected("The request body must be a JSON object.")
    for (key, ident), (vkey, version, _) in AGENTS.items():
        if body.get(key) == ident and body.get(vkey) == version:
            break
    else:
        if not any(k in body for k in ("agentId", "projectId")):
            raise Rejected("Specify agentId and agentVersionId, or projectId and projectVersionId.")
        raise Rejected("No agent found for %s %s." % (
            "agentId" if "agentId" in body else "projectId", body.get("agentId") or body.get("projectId")))
    if saved and not (isinstance(body.get("name"), str) and body["name"]):
        raise Rejected("Missing required field: name")
    if not saved and "evaluationMode" in body:
        raise Rejected("evaluationMode isn't supported for ephemeral runs.")
    if body.get("evaluationMode", "TEXT") not in ("TEXT", "TEXT_VOICE"):
        raise Rejected("Invalid evaluationMode: %s" % body.get("evaluationMode"))
    max_turns = body.get("maxTurns", DEFAULT_MAX_TURNS)
    if not isinstance(max_turns, int) or isinstance(max_turns, bool) or max_turns < 1:
        raise Rejected("maxTurns must be a positive integer, got %s" % json.dumps(max_turns))
    cases = body.get("testCases")
    if not isinstance(cases, list) or not cases:
        raise Rejected("Specify at least one test case in testCases.")
    for i, tc in enumerate(cases):
        if not isinstance(tc, dict) or not isinstance(tc.get("conversationGoal"), str) or not tc["conversationGoal"]:
            raise Rejected("Test case %d: conversationGoal is required." % (i + 1))
        if not isinstance(tc.get("number"), int):
            raise Rejected("Test case %d: number is required." % (i + 1))
        for s in tc.get("scorers") or []:
            if not isinstance(s, dict) or s.get("name") not in SCORERS:
                raise Rejected("Test case %d: unknown scorer %s." % (tc["number"], json.dumps(s.get("name") if isinstance(s, dict) else s)))
            if s["name"] == "acceptance_criteria" and not s.get("expectedValue"):
                raise Rejected("Test case %d: scorer acceptance_criteria requires an expectedValue." % tc["number"])
    return cases, max_turns


def _failed(message, code="INVALID_INPUT"):
    return {"status": "Failed", "testCases": [],
            "errorRepresentation": {"errorCode": code, "errorMessage": message, "retryable": False}}


# ---------------------------------------------------------------- saved runs

class ConversationRun:
    """A saved run; like the turn-level runs, its state is a function of the monotonic clock."""

    def __init__(self, number, results, summary, failed, t0, start_wall, duration):
        self.workbook = sf_id("1Wb", number)
        self.worksheet = sf_id("1Ws", number)
        self.rows = [sf_id("1Wr", number * 1000 + r["testNumber"]) for r in results]
        self.results, self.summary, self.failed = results, summary, failed
        self.reported_terminal = False
        self.t0, self.start_wall, self.duration = t0, start_wall, duration

    def phase(self, now):
        e = now - self.t0
        if e >= self.duration:
            return "FAILED" if self.failed else "COMPLETED"
        return "NEW" if e < NEW_FRACTION * self.duration else "IN_PROGRESS"

    def finished(self, now):
        """The results finished by `now`: cases end one after the other across the run."""
        n = len(self.results)
        e = now - self.t0
        base = NEW_FRACTION * self.duration
        return [dict(r, rowId=row) for i, (r, row) in enumerate(zip(self.results, self.rows))
                if e >= base + (self.duration - base) * (i + 1) / n - 1e-9]


def add_routes(svc):
    r = svc.router
    r.add("POST", TESTS + "/ephemeral-run", lambda req, version: ephemeral(svc, req))
    r.add("POST", TESTS + "/runs", lambda req, version: start(svc, req))
    r.add("GET", TESTS + "/runs/{worksheetId}", lambda req, version, worksheetId: status(svc, worksheetId))
    r.add("GET", TESTS + "/runs/{worksheetId}/results", lambda req, version, worksheetId: results(svc, worksheetId))


def reset(svc):
    svc.conversation_runs = {}


def run_counts(svc, now):
    """(saved conversation runs started, those terminal now) for the control API's stats."""
    runs = svc.conversation_runs.values()
    return len(runs), sum(1 for r in runs if r.phase(now) in ("COMPLETED", "FAILED"))


def _body(req):
    try:
        return req.json()
    except (ValueError, UnicodeDecodeError) as e:
        raise Rejected("The request body is not valid JSON: %s" % e)


def _run_all(cases, max_turns):
    """(results, summary, whether an agent failed) of every conversation."""
    out, verdicts, failed = [], [], False
    for tc in cases:
        result, error = _case_result(tc, max_turns, verdicts)
        out.append(result)
        failed = failed or error is not None
    return out, _summary(len(out), verdicts), failed


def ephemeral(svc, req):
    """Run without saving: synchronous, the results document is the answer."""
    try:
        cases, max_turns = _check(_body(req), saved=False)
    except Rejected as e:
        return json_response(200, _failed(str(e)))
    out, summary, failed = _run_all(cases, max_turns)
    doc = {"status": "Failed" if failed else "Completed", "summary": summary, "testCases": out}
    if failed:
        doc["errorRepresentation"] = {"errorCode": "AGENT_ERROR", "retryable": False,
                                      "errorMessage": "The agent failed during a conversation."}
    return json_response(200, doc)


def start(svc, req):
    try:
        body = _body(req)
        cases, max_turns = _check(body, saved=True)
    except Rejected as e:
        return json_response(400, [{"errorCode": "INVALID_INPUT", "message": str(e)}])
    out, summary, failed = _run_all(cases, max_turns)
    number = len(svc.conversation_runs) + 1
    clock = svc.ctx.clock
    now = clock.now()
    duration = svc.ctx.config.run_seconds(svc.name, rng_for(svc.ctx.seed, svc.name, "conversation", number))
    run = ConversationRun(number, out, summary, failed, now, clock.wall(now), duration)
    svc.conversation_runs[run.worksheet] = run
    return json_response(200, {"workbookId": run.workbook, "worksheetId": run.worksheet,
                               "rowIds": run.rows, "status": STATUS["NEW"]})


def _status_doc(run, now):
    phase = run.phase(now)
    doc = {"workbookId": run.workbook, "worksheetId": run.worksheet, "status": STATUS[phase],
           "startTime": iso(run.start_wall, "ms")}
    if phase in ("COMPLETED", "FAILED"):
        doc["endTime"] = iso(run.start_wall + run.duration, "ms")
    if phase == "FAILED":
        doc["errorRepresentation"] = {"errorCode": "AGENT_ERROR", "retryable": False,
                                      "errorMessage": "The agent failed during a conversation."}
    return doc


def status(svc, worksheet):
    run = svc.conversation_runs.get(worksheet)
    if run is None:
        return json_response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    doc = _status_doc(run, svc.ctx.clock.now())
    if run.reported_terminal:
        svc.ctx.stats.poll_after_terminal(svc.name)
    run.reported_terminal = "endTime" in doc
    return json_response(200, doc)


def results(svc, worksheet):
    run = svc.conversation_runs.get(worksheet)
    if run is None:
        return json_response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    now = svc.ctx.clock.now()
    doc = _status_doc(run, now)
    doc.pop("startTime")
    doc.pop("endTime", None)
    doc["testCases"] = run.finished(now)
    if doc["status"] in ("Completed", "Failed"):
        doc["summary"] = run.summary
    return json_response(200, doc)
