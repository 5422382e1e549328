// Drive Salesforce's own client (@salesforce/agents) against evalua's sandbox: for every
// test definition, API version and API generation given, start a run, poll it to the end
// and read its results through the library, then print one JSON line per run with the
// library's verdict per expectation (ai-evaluations: `result`; ai-testing: the library's
// own pass rule) and, for ai-evaluations, the TAP and JUnit it renders. The Lua test
// (tests/lua/providers_salesforce_client_test.lua) compares these with evalua's verdicts
// on the same runs.
//
// usage: node drive.js BASE_URL VARIANT VERSION DEFINITION...
//   VARIANT is ai-evaluations or ai-testing; VERSION like 63.0.
'use strict';

const { AgentTester, AgentforceStudioTester, convertTestResultsToFormat } = require('@salesforce/agents');
const { AuthInfo, Connection } = require('@salesforce/core');

const CLIENT_ID = 'sandbox-client-id';
const CLIENT_SECRET = 'sandbox-client-secret';
const TERMINAL = {
  'ai-evaluations': ['COMPLETED', 'ERROR', 'TERMINATED'],
  'ai-testing': ['SUCCESS', 'FAILED', 'TERMINATED'],
};
const DEADLINE_MS = 120000;

// The sandbox's My Domain issues a client-credentials token, as a real org does; the
// library is then given that token (its "access token" flow: no stored org, no refresh).
async function login(base) {
  const res = await fetch(`${base}/sf/services/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  });
  if (!res.ok) throw new Error(`token request answered ${res.status}: ${await res.text()}`);
  return res.json();
}

// A @salesforce/core Connection on the sandbox instance at `version`. username, orgId,
// isDevHub and namespacePrefix are supplied so that AuthInfo does not query the org's
// identity and Organization record (endpoints the sandbox does not emulate).
async function connect(token, version) {
  const authInfo = await AuthInfo.create({
    accessTokenOptions: {
      accessToken: token.access_token,
      instanceUrl: token.instance_url,
      loginUrl: token.instance_url,
      username: 'sandbox-user@example.com',
      orgId: token.id.split('/').slice(-2)[0],
      isDevHub: false,
      namespacePrefix: '',
    },
  });
  return Connection.create({ authInfo, connectionOptions: { version } });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Poll with the library's status() until the run is terminal, then read the results the
// way the library's poll() does (poll() itself waits only for COMPLETED / SUCCESS, so an
// ERROR or TERMINATED run is read with results() until the results document is terminal).
async function finish(tester, variant, runId) {
  const end = Date.now() + DEADLINE_MS;
  const terminal = TERMINAL[variant];
  for (;;) {
    const status = await tester.status(runId);
    if (terminal.includes(status.status)) break;
    if (Date.now() > end) throw new Error(`run ${runId} not terminal after ${DEADLINE_MS} ms`);
    await sleep(100);
  }
  for (;;) {
    const ok = variant === 'ai-evaluations' ? 'COMPLETED' : 'SUCCESS';
    const status = await tester.status(runId);
    if (status.status === ok) {
      const { Duration } = require('@salesforce/kit');
      return tester.poll(runId, { timeout: Duration.seconds(DEADLINE_MS / 1000) });
    }
    const results = await tester.results(runId);
    if (terminal.includes(results.status)) return results;
    if (Date.now() > end) throw new Error(`results of ${runId} not terminal after ${DEADLINE_MS} ms`);
    await sleep(100);
  }
}

function count(table, key, verdict) {
  table[key] = table[key] || { pass: 0, fail: 0, none: 0 };
  table[key][verdict] += 1;
}

// The library's verdict per expectation: PASS / FAILURE / anything else (null).
function evaluationVerdicts(results) {
  const out = {};
  for (const tc of results.testCases) {
    for (const r of tc.testResults) {
      count(out, r.name, r.result === 'PASS' ? 'pass' : r.result === 'FAILURE' ? 'fail' : 'none');
    }
  }
  return out;
}

// AgentforceStudioTester's own rule (its poll()): a scorer passes when its parsed
// scorerResponse has an actualValue equal to its expectedValue. Keyed by evaluationType.
function testingVerdicts(results) {
  const out = {};
  for (const tc of results.testCases) {
    for (const s of tc.testScorerResults) {
      let parsed = {};
      try { parsed = JSON.parse(s.scorerResponse); } catch { parsed = {}; }
      const pass = parsed.actualValue !== undefined && parsed.actualValue === parsed.expectedValue;
      count(out, parsed.evaluationType || s.scorerName, pass ? 'pass' : 'fail');
    }
  }
  return out;
}

async function renderings(results) {
  const tap = await convertTestResultsToFormat(results, 'tap');
  const junit = await convertTestResultsToFormat(results, 'junit');
  const failures = /<testsuites[^>]*\sfailures="(\d+)"/.exec(junit);
  return {
    tap_ok: tap.split('\n').filter((l) => /^ok \d+/.test(l)).length,
    tap_not_ok: tap.split('\n').filter((l) => /^not ok \d+/.test(l)).length,
    junit_failures: failures ? Number(failures[1]) : null,
    json_cases: JSON.parse(await convertTestResultsToFormat(results, 'json')).testCases.length,
  };
}

async function one(tester, variant, definition) {
  const started = await tester.start(definition);
  const results = await finish(tester, variant, started.runId);
  const line = { variant, definition, run_id: started.runId, status: results.status, cases: results.testCases.length };
  if (variant === 'ai-evaluations') {
    line.expectations = evaluationVerdicts(results);
    Object.assign(line, await renderings(results));
  } else {
    line.expectations = testingVerdicts(results);
  }
  return line;
}

async function main() {
  const [base, variant, version, ...definitions] = process.argv.slice(2);
  if (!base || !TERMINAL[variant] || !version || definitions.length === 0) {
    throw new Error('usage: node drive.js BASE_URL ai-evaluations|ai-testing VERSION DEFINITION...');
  }
  const conn = await connect(await login(base), version);
  const tester = variant === 'ai-evaluations' ? new AgentTester(conn) : new AgentforceStudioTester(conn);
  const lines = await Promise.all(definitions.map((d) => one(tester, variant, d)));
  for (const line of lines) process.stdout.write(JSON.stringify({ version, ...line }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`drive.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
