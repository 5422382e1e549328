"""The AiEvaluationDefinitions the Salesforce emulator knows, as case templates.

A case template is the finished form of one test case in the newer metric generation
(`score` + `result`); agentforce.py adds times and statuses as a run progresses and
converts to the seed's `metricScore` generation when asked for it.  Two definitions come
from real documents (data/*.json, see data/SOURCES.txt); the others are invented to cover
what a client must handle: all passing, failing expectations, a run that ends ERROR, an
errored test case, a big suite, the newer generation's quirks, and per-run seeded outcomes.
"""

import json
import os
import re

from common import rng_for

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def ent(text):
    """Entity-encode a text field the way Salesforce sometimes returns them."""
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#39;")


def classic(name, actual, expected, score, passed, error=None, label=None, explain=None):
    """A test result shaped like fixtures/..._results__4.json (errorCode null when passing)."""
    precise = not name.startswith("topic")
    return {
        "name": name,
        "actualValue": actual,
        "expectedValue": expected,
        "score": score,
        "result": "PASS" if passed else "FAILURE",
        "metricLabel": label or ("Precision" if precise else "Accuracy"),
        "metricExplainability": explain or ("Measures the precision of the result." if precise
                                            else "Measures the correctness of the result."),
        "errorCode": None if passed else 1,
        "errorMessage": None if passed else (error or "Actual response does not match the expected response"),
    }


def plugin(name, actual, expected, score, result, explain=None):
    """A test result shaped like the plugin-agent fixtures: errorCode 0, metricLabel = name."""
    r = {"actualValue": actual, "errorCode": 0, "expectedValue": expected, "metricLabel": name,
         "name": name, "result": result, "score": score}
    if explain is not None:
        r["metricExplainability"] = explain
    return r


def agent_case(utterance, topic, actions, response, results, outcome="Success"):
    return {
        "utterance": utterance,
        "generatedData": {"type": "AGENT", "actionsSequence": actions, "outcome": outcome, "topic": topic},
        "testResults": results,
        "response": response,
    }


def three_checks(topic, exp_topic, actions, exp_actions, response, exp_response, score=0.92, fail_error=None):
    return [
        classic("topic_sequence_match", topic, exp_topic, 1.0 if topic == exp_topic else 0.0, topic == exp_topic),
        classic("action_sequence_match", json.dumps(actions), json.dumps(exp_actions),
                1.0 if actions == exp_actions else 0.0, actions == exp_actions),
        classic("bot_response_rating", response, exp_response, score, score >= 0.6, error=fail_error),
    ]


class Definition:
    """One named test definition: its subject, cases (fixed or drawn per run) and how runs end."""

    def __init__(self, name, subject, cases=None, per_run=None, outcome="COMPLETED",
                 error_message=None, completes=None, description=""):
        self.name = name
        self.subject = subject
        self.fixed_cases = cases
        self.per_run = per_run
        self.outcome = outcome
        self.error_message = error_message
        self.completes = completes
        self.description = description

    def cases(self, rng):
        return self.per_run(rng) if self.per_run else self.fixed_cases


def _fixture_cases(filename):
    with open(os.path.join(DATA_DIR, filename), encoding="utf-8") as f:
        doc = json.load(f)
    cases = []
    for tc in doc["testCases"]:
        case = {
            "utterance": tc["inputs"]["utterance"],
            "generatedData": tc.get("generatedData", {}),
            "testResults": [{k: v for k, v in r.items() if k not in ("status", "startTime", "endTime")}
                            for r in tc["testResults"]],
        }
        for r in tc["testResults"]:
            if r.get("name") in ("bot_response_rating", "output_validation") and r.get("actualValue"):
                case["response"] = r["actualValue"]
        cases.append(case)
    return cases


def _order_support():
    return [
        agent_case("Where is my order #00123?", "Order_Status", ["Get_Order_Status"],
                   "Your order #00123 shipped yesterday and should arrive by Friday.",
                   three_checks("Order_Status", "Order_Status", ["Get_Order_Status"], ["Get_Order_Status"],
                                "Your order #00123 shipped yesterday and should arrive by Friday.",
                                "The agent gives the shipping status and the expected delivery date.", 0.95)),
        agent_case("I want to return the blue sweater I bought last week.", "Returns",
                   ["Get_Order_Details", "Create_Return_Case"],
                   "I have opened return case 00001027 for the blue sweater. A prepaid label is on its way by email.",
                   three_checks("Returns", "Returns", ["Get_Order_Details", "Create_Return_Case"],
                                ["Get_Order_Details", "Create_Return_Case"],
                                "I have opened return case 00001027 for the blue sweater. A prepaid label is on its way by email.",
                                "The agent opens a return case and explains how to send the item back.", 0.9)),
        agent_case("Can I change the delivery address for my order?", "Order_Management",
                   ["Update_Shipping_Address"],
                   "Sure. I have updated the delivery address; you will get a confirmation email shortly.",
                   three_checks("Order_Management", "Order_Management", ["Update_Shipping_Address"],
                                ["Update_Shipping_Address"],
                                "Sure. I have updated the delivery address; you will get a confirmation email shortly.",
                                "The agent updates the address and confirms it.", 0.88)),
    ]


def _billing():
    return [
        agent_case("Why was I charged twice this month?", "Billing_Disputes", ["Get_Invoices", "Create_Dispute"],
                   "I see two charges of $49.00 on March 3. I have opened dispute D-2231 to refund the duplicate.",
                   three_checks("Billing_Disputes", "Billing_Disputes", ["Get_Invoices", "Create_Dispute"],
                                ["Get_Invoices", "Create_Dispute"],
                                "I see two charges of $49.00 on March 3. I have opened dispute D-2231 to refund the duplicate.",
                                "The agent finds the duplicate charge and opens a dispute.", 0.93)),
        agent_case("I need a copy of my last invoice.", "General_FAQ", [],
                   "You can find invoices under Settings > Billing.",
                   three_checks("General_FAQ", "Invoices", [], ["Get_Invoices", "Send_Invoice_Email"],
                                "You can find invoices under Settings > Billing.",
                                "The agent emails the last invoice to the customer.", 0.35,
                                fail_error="The response does not send the invoice")),
        agent_case("Can I pay with a bank transfer instead of a card?", "Payment_Methods", ["Get_Payment_Options"],
                   "We only accept cards.",
                   three_checks("Payment_Methods", "Payment_Methods", ["Get_Payment_Options"], ["Get_Payment_Options"],
                                "We only accept cards.",
                                "The agent explains that bank transfers are accepted for annual plans and how to set one up.",
                                0.2, fail_error="The response contradicts the expected answer")),
        agent_case("Cancel my subscription at the end of the billing period.", "Subscription_Management",
                   ["Get_Subscription", "Schedule_Cancellation"],
                   "Done: your subscription will end on April 30 and you will not be charged again.",
                   three_checks("Subscription_Management", "Subscription_Management",
                                ["Get_Subscription", "Schedule_Cancellation"],
                                ["Get_Subscription", "Schedule_Cancellation"],
                                "Done: your subscription will end on April 30 and you will not be charged again.",
                                "The agent schedules the cancellation for the end of the period.", 0.91)),
    ]


def _travel():
    ok = _order_support()
    errored = {
        "utterance": "Book me the cheapest flight from Lisbon to Oslo next Tuesday.",
        "status": "ERROR",
        "errorMessage": "An Apex error occurred: System.LimitException: Apex CPU time limit exceeded",
        "generatedData": {},
        "testResults": [{
            "name": "topic_sequence_match", "expectedValue": "Flight_Booking",
            "score": 0, "result": "FAILURE", "metricLabel": "Accuracy",
            "metricExplainability": "Measures the correctness of the result.",
            "errorCode": 1, "errorMessage": "An Apex error occurred: System.LimitException: Apex CPU time limit exceeded",
        }],
    }
    hotel = agent_case("Find a hotel near the Oslo opera house for two nights.", "Hotel_Search",
                       ["Search_Hotels"],
                       "I found three hotels within 500 m of the opera house; the Thon Hotel Opera has rooms from NOK 1,450.",
                       three_checks("Hotel_Search", "Hotel_Search", ["Search_Hotels"], ["Search_Hotels"],
                                    "I found three hotels within 500 m of the opera house; the Thon Hotel Opera has rooms from NOK 1,450.",
                                    "The agent lists hotels near the opera house with prices.", 0.87))
    return [ok[0], errored, hotel]


TOPICS = ["Order_Status", "Returns", "Billing_Disputes", "Account_Access", "Product_Info", "Shipping"]
ACTIONS = {"Order_Status": ["Get_Order_Status"], "Returns": ["Get_Order_Details", "Create_Return_Case"],
           "Billing_Disputes": ["Get_Invoices", "Create_Dispute"], "Account_Access": ["Reset_Password"],
           "Product_Info": ["Search_Knowledge"], "Shipping": ["Get_Shipping_Options"]}


def _generated(rng, count, fail_rate, prefix):
    cases = []
    for i in range(count):
        topic = rng.choice(TOPICS)
        actions = ACTIONS[topic]
        topic_ok = rng.random() >= fail_rate
        actual_topic = topic if topic_ok else rng.choice([t for t in TOPICS if t != topic])
        actual_actions = actions if rng.random() >= fail_rate else ACTIONS[actual_topic]
        score = round(rng.uniform(0.65, 0.99) if rng.random() >= fail_rate else rng.uniform(0.05, 0.55), 2)
        response = "%s reply %d about %s." % (prefix, i + 1, topic.replace("_", " ").lower())
        cases.append(agent_case(
            "%s question %d: help me with %s" % (prefix, i + 1, topic.replace("_", " ").lower()),
            actual_topic, actual_actions, response,
            three_checks(actual_topic, topic, actual_actions, actions, response,
                         "A helpful answer about %s." % topic.replace("_", " ").lower(), score)))
    return cases


def _quirks():
    cases = _fixture_cases("agentforce_plugin_agent_results.json")
    museum = "What's on at the museum & gallery this weekend?"
    actions = ["Get_Local_Events", "Summarize_Events"]
    cases.append({
        "utterance": ent(museum),
        "response": "This weekend the museum & gallery shows \"Light and Water\" (Sat-Sun, 10am-6pm).",
        "generatedData": {
            "actionsSequence": ent(str(actions)),
            "invokedActions": ent(json.dumps([[{"function": {"name": a, "input": {}}}] for a in actions])),
            "outcome": ent("This weekend the museum & gallery shows \"Light and Water\" (Sat-Sun, 10am-6pm)."),
            "sessionId": "0Xx5g000000ABCDCA4",
            "topic": "Local_Events_Information",
        },
        "testResults": [
            plugin("topic_assertion", "Local_Events_Information", "Local_Events_Information", 1, "PASS"),
            plugin("actions_assertion", ent(json.dumps(actions)), ent(json.dumps(actions)), 1, "PASS"),
            plugin("output_validation",
                   ent("This weekend the museum & gallery shows \"Light and Water\" (Sat-Sun, 10am-6pm)."),
                   ent("The agent names the weekend's exhibition and its opening hours."), 1, "PASS",
                   ent("The response names the exhibition and the hours the user asked about.")),
            plugin("output_latency_milliseconds", "", "", 1873, None),
            plugin("instruction_following", "", "", 0.95, "PASS",
                   ent("The agent followed the topic's instructions: it didn't invent prices.")),
            plugin("conciseness", "", "", 0.4, "FAILURE",
                   ent("The answer repeats the exhibition's name & dates twice.")),
            plugin("string_comparison", "Light and Water", "Light and Water", 1, "PASS",
                   "operator: equals; actual: Light and Water; expected: Light and Water"),
            plugin("numeric_comparison", "1873", "1500", 0, "FAILURE",
                   "operator: less_than_or_equal; actual: 1873; expected: 1500"),
        ],
    })
    return cases


# Custom evaluations (Salesforce's "Add Custom Evaluation Criteria to a Test Case" guide page;
# the parameter shape {name: operator | actual | expected, value, isReference} is forcedotcom/agents
# src/types.ts TestCase.customEvaluations).  `actual` is a JSONPath into the test case's result
# ($.generatedData.outcome, ...: the paths Salesforce's client maps, src/yamlSpecTranslator.ts
# ACTUAL_PATH_MAP); `expected` is a literal, or a JSONPath too when isReference is true.  The
# operator names are the guide's; a path that descends into a JSON document sent as a string
# (invokedActions) reads inside it, and how a result reports a comparison that could not be
# made (FAILURE with an errorMessage) is *(inferred)*.
STRING_OPERATORS = {
    "equals": lambda a, e: a == e,
    "contains": lambda a, e: e in a,
    "startswith": lambda a, e: a.startswith(e),
    "endswith": lambda a, e: a.endswith(e),
}
NUMERIC_OPERATORS = {
    "equals": lambda a, e: a == e,
    "greater_than": lambda a, e: a > e,
    "greater_than_or_equal": lambda a, e: a >= e,
    "less_than": lambda a, e: a < e,
    "less_than_or_equal": lambda a, e: a <= e,
}
_MISSING = object()


def json_path(doc, path):
    """The value at a JSONPath like $.generatedData.invokedActions[0][0].function.name, or _MISSING."""
    if not isinstance(path, str) or not path.startswith("$"):
        return _MISSING
    v = doc
    for key, index in re.findall(r"\.([A-Za-z_][\w]*)|\[(\d+)\]", path[1:]):
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                return _MISSING
        if key and isinstance(v, dict) and key in v:
            v = v[key]
        elif index and isinstance(v, list) and int(index) < len(v):
            v = v[int(index)]
        else:
            return _MISSING
    return v


def custom_evaluation(name, label, operator, actual_path, expected, expected_is_reference=False):
    """A custom evaluation as the definition holds it."""
    return {"name": name, "label": label, "parameters": [
        {"name": "operator", "value": operator, "isReference": False},
        {"name": "actual", "value": actual_path, "isReference": True},
        {"name": "expected", "value": expected, "isReference": expected_is_reference},
    ]}


def evaluate_custom(ce, result_doc):
    """The test result of custom evaluation `ce` on a case's result document: the resolved
    operands as actualValue/expectedValue, its parameters echoed *(inferred)*."""
    params = {p["name"]: p for p in ce["parameters"]}
    operator = params["operator"]["value"]
    actual = json_path(result_doc, params["actual"]["value"])
    expected = params["expected"]["value"]
    if params["expected"]["isReference"]:
        expected = json_path(result_doc, expected)
    numeric = ce["name"] == "numeric_comparison"
    table = NUMERIC_OPERATORS if numeric else STRING_OPERATORS
    error = None
    if operator not in table:
        error = "Unsupported operator '%s' for %s. Use one of: %s" % (operator, ce["name"], ", ".join(table))
    elif actual is _MISSING:
        error = "No value found at %s" % params["actual"]["value"]
    elif expected is _MISSING:
        error = "No value found at %s" % params["expected"]["value"]
    passed = False
    if error is None:
        try:
            a, e = (float(actual), float(expected)) if numeric else (str(actual), str(expected))
            passed = table[operator](a, e)
        except (TypeError, ValueError):
            error = "The value at %s is not a number: %s" % (params["actual"]["value"], actual)
    r = {"name": ce["name"], "metricLabel": ce["label"],
         "actualValue": "" if actual is _MISSING else str(actual),
         "expectedValue": "" if expected is _MISSING else str(expected),
         "score": 1 if passed else 0, "result": "PASS" if passed else "FAILURE",
         "metricExplainability": "%s %s" % (ce["name"], operator),
         "errorCode": None if passed else 1, "errorMessage": error or (None if passed else
                                                                      "The comparison is false"),
         "parameters": ce["parameters"]}
    return r


def with_inputs(case, context=None, history=None, customs=()):
    """A case template with contextVariable / conversationHistory inputs (the AiEvaluationDefinition
    inputs, forcedotcom/agents src/types.ts), echoed in the results' `inputs` *(inferred: the captured
    documents only show an utterance)*, and custom evaluations evaluated on its generatedData."""
    inputs = {"utterance": case["utterance"]}
    if context:
        inputs["contextVariable"] = [{"variableName": k, "variableValue": v} for k, v in context]
    if history:
        inputs["conversationHistory"] = history
    case = dict(case, inputs=inputs)
    doc = {"generatedData": case["generatedData"], "inputs": inputs}
    case["testResults"] = case["testResults"] + [evaluate_custom(ce, doc) for ce in customs]
    return case


def _order_actions(days, amount):
    """invokedActions as Salesforce sends it: a JSON document in a string."""
    return json.dumps([[{"function": {"name": "Get_Order_Status", "input": {"orderNumber": "00123", "amount": amount},
                                      "output": {"status": "Shipped", "daysToDelivery": days,
                                                 "refundAmount": 0}}}]])


def _order_case(utterance, topic, actions, response, days, amount):
    """An agent case whose outcome is its response and whose action reports delivery and refund figures."""
    case = agent_case(utterance, topic, actions, response,
                      [classic("topic_sequence_match", topic, topic, 1.0, True)], outcome=response)
    case["generatedData"]["invokedActions"] = _order_actions(days, amount)
    return case


def _custom_evaluations():
    status = _order_case("Where is my order #00123?", "Order_Status", ["Get_Order_Status"],
                         "Your order #00123 shipped yesterday and should arrive by Friday.", 3, 49.0)
    refund = _order_case("Refund the duplicate charge on order #00123.", "Billing_Disputes", ["Get_Invoices"],
                         "I can see the duplicate charge, but I can't issue refunds myself.", 3, 49.0)
    eta = _order_case("When will the courier arrive?", "Order_Status", ["Get_Order_Status"],
                      "The courier arrives within the delivery window.", 3, 0)
    days = "$.generatedData.invokedActions[0][0].function.output.daysToDelivery"
    return [
        with_inputs(status, context=[("CustomerId", "003SM000001AbCdYAK"), ("EndUserLanguage", "en_US")],
                    history=[{"role": "user", "message": "Hi, I ordered a sweater last week.", "index": 0},
                             {"role": "agent", "message": "Hello! How can I help with your order?",
                              "topic": "Order_Status", "index": 1}],
                    customs=[custom_evaluation("string_comparison", "topic is Order_Status", "equals",
                                               "$.generatedData.topic", "Order_Status"),
                             custom_evaluation("string_comparison", "names the day", "contains",
                                               "$.generatedData.outcome", "Friday"),
                             custom_evaluation("numeric_comparison", "delivery within 5 days",
                                               "less_than_or_equal", days, "5")]),
        with_inputs(refund, context=[("CustomerId", "003SM000001AbCdYAK")],
                    customs=[custom_evaluation("string_comparison", "confirms the refund", "startswith",
                                               "$.generatedData.outcome", "Your refund"),
                             custom_evaluation("numeric_comparison", "refunds the charged amount", "greater_than_or_equal",
                                               "$.generatedData.invokedActions[0][0].function.output.refundAmount",
                                               "$.generatedData.invokedActions[0][0].function.input.amount",
                                               expected_is_reference=True)]),
        with_inputs(eta, customs=[custom_evaluation("numeric_comparison", "courier within 30 minutes", "less_than",
                                                    "$.generatedData.invokedActions[0][0].function.output.etaMinutes", "30"),
                                  custom_evaluation("string_comparison", "sounds sure", "approximately",
                                                    "$.generatedData.outcome", "arrives")]),
    ]


def _flaky(rng):
    return _generated(rng, 5, 0.2, "Flaky")


def build(seed):
    """All definitions by name. Only Large_Regression_Suite depends on the seed."""
    defs = [
        Definition("Guest_Experience_Agent", "Guest_Experience_Agent",
                   cases=_fixture_cases("agentforce_Guest_Experience_Agent_results.json"),
                   description="The fixture's three cases; case 3 fails bot_response_rating (and its passing "
                               "action_sequence_match carries errorCode 1, as in the fixture)."),
        Definition("Order_Support_All_Pass", "Order_Support_Agent", cases=_order_support(),
                   description="3 cases, every expectation passes."),
        Definition("Billing_Agent_Regressions", "Billing_Agent", cases=_billing(),
                   description="4 cases; case 2 fails all three expectations, case 3 fails bot_response_rating."),
        Definition("Broken_Agent_Run_Error", "Broken_Agent", cases=_order_support(), outcome="ERROR",
                   error_message="Agent Broken_Agent has no active version. Activate a version and run the test again.",
                   completes=1,
                   description="Run ends ERROR: case 1 completes, cases 2-3 end ERROR."),
        Definition("Travel_Agent_Case_Error", "Travel_Agent", cases=_travel(),
                   description="3 cases; case 2 has status ERROR, an errorMessage and empty generatedData."),
        Definition("Large_Regression_Suite", "Service_Agent",
                   cases=_generated(rng_for(seed, "agentforce", "Large_Regression_Suite"), 250, 0.1, "Suite"),
                   description="250 generated cases, about 10% of expectations failing (seeded)."),
        Definition("Local_Info_Agent_Quirks", "Local_Info_Agent", cases=_quirks(),
                   description="Newer-generation quirks: errorCode 0, metricLabel = name, result null with a "
                               "score, HTML entities, actionsSequence as an entity-encoded string."),
        Definition("Seeded_Flaky_Agent", "Flaky_Agent", per_run=_flaky,
                   description="5 cases whose outcomes are drawn per run id from the seed."),
        Definition("Custom_Evaluations_Agent", "Order_Status_Agent", cases=_custom_evaluations(),
                   description="3 cases with contextVariable/conversationHistory inputs and string_comparison/"
                               "numeric_comparison custom evaluations: case 1 passes all, case 2 fails a "
                               "startswith and a numeric comparison against a reference, case 3 has a "
                               "numeric_comparison with no actual value and an unknown operator."),
    ]
    return {d.name: d for d in defs}
