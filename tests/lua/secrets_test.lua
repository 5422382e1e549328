-- Secrets never leak: client secrets, tokens, API keys and secret() values stay out of
-- stdout, stderr, the verbose trace, every report, the journal and error messages.
-- Two parts:
--  1. scenarios made to tempt a leak (all four services under -v, failures, errors and
--     print() quoting secrets, wrong credentials, a script error, the REPL), every
--     output scanned; journal and reports are created mode 0600;
--  2. under tests/run-all (EVALUA_SCAN_ROOT set), after every other test file: a scan of
--     what the whole suite printed (each file's stdout+stderr) and wrote (its private
--     TMPDIR, what it removed, the checkout's .evalua/journal) for the same values.
-- TLS verification and the environment: see tls_test.lua.
local t = require "tap"
local shell = require "shell"
local sandbox = require "sandbox"

local ROOT = os.getenv("PWD")

-- The credentials the suite uses (the sandbox's and the tests' own), by name. The ones
-- this file chooses hold every character that some output escapes or encodes, and both
-- cases.
local SPECIAL = [[Sup3r&<K>"e'y\$%+Q]]
local WRONG = [[Wr0ng$ecret+%&'"<>\X]]
local SECRETS = {
  { "Salesforce client secret", "sandbox-client-secret" },
  { "Future AGI secret key", "fi-test-secret" },
  { "Future AGI API key", "fi-test-key" },
  { "Kapso API key", "kapso-test-key" },
  { "Glow token", "glow-test-token" },
  { "secret() value", SPECIAL },
  { "wrong client secret", WRONG },
  { "wrong Kapso key", "wrong-kapso-k3y" },
  { "report test secret", "s3cr3t-token" },
  { "cli test secret", "topsecretvalue" },
  { "URL password", "url-passw0rd" },
}
-- Salesforce access tokens the sandbox issues are JWTs ({"tnk":...} header); any JWT
-- in an output is a token that escaped.
local JWT = "eyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}"

-- Every form a secret may take in an output: as given, lower- and upper-cased, and each
-- of those HTML-escaped (&#39; or &#x27;), JSON-escaped, percent-encoded (upper or lower
-- hex, '+' or %20 for a space).
local function forms(secret)
  local list, seen = {}, {}
  local function add(f)
    if not seen[f] then seen[f], list[#list + 1] = true, f end
  end
  for _, c in ipairs({ secret, secret:lower(), secret:upper() }) do
    add(c)
    for _, apos in ipairs({ "&#39;", "&#x27;" }) do
      add((c:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = apos })))
    end
    add((c:gsub('[\\"]', "\\%0")))
    add((c:gsub('[\\"/]', "\\%0")))
    for _, hex in ipairs({ "%%%02X", "%%%02x" }) do
      local url = c:gsub("[^%w%-%._~ ]", function(ch) return hex:format(ch:byte()) end)
      add((url:gsub(" ", "+")))
      add((url:gsub(" ", "%%20")))
    end
  end
  return list
end
for _, s in ipairs(SECRETS) do s.forms = forms(s[2]) end

local function sh(cmd, secs)
  local out, code = shell.sh(cmd, secs)
  return out, code == 0, code
end

local read = shell.read

local write = shell.write

-- What leaked in `text`: a list of names (never the values: this output is scanned too).
local function leaks(text)
  local found = {}
  for _, s in ipairs(SECRETS) do
    for _, f in ipairs(s.forms) do
      if text:find(f, 1, true) then
        found[#found + 1] = s[1] .. (f == s[2] and "" or " (encoded or cased)")
        break
      end
    end
  end
  if text:find("eyJ[%w_-]+%.eyJ[%w_-]+") then found[#found + 1] = "a JWT (access token)" end
  return found
end

-- `text` with every secret replaced by its name, fit for a diagnostic.
local function mask(text)
  text = tostring(text or "")
  for _, s in ipairs(SECRETS) do
    for _, f in ipairs(s.forms) do
      text = text:gsub(f:gsub("%p", "%%%0"), "<" .. s[1] .. ">")
    end
  end
  return (text:gsub("eyJ[%w_-]+%.eyJ[%w_-]+%.?[%w_-]*", "<JWT>"))
end

-- Whether `text` matches `pattern`; on failure the text is shown masked.
local function like(text, pattern, what)
  local good = t.ok(text ~= nil and text:find(pattern) ~= nil, what)
  if not good then t.diag(mask(text)) end
  return good
end

local function no_leak(text, what)
  local found = leaks(text or "")
  t.ok(text ~= nil and #found == 0, what .. " holds no secret")
  if text == nil then t.diag("  (missing)") end
  if #found > 0 then t.diag("  leaked: " .. table.concat(found, ", ")) end
end

-- A word for sh, quoted.
local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function mode_of(path)
  return (sh("stat -c %a " .. path):gsub("%s+$", ""))
end

local dir = sh("mktemp -d"):gsub("%s+$", "")

local function scenarios()
  local base = sandbox.start()
  sandbox.control("config", { run_seconds = 0.5, status_results_lag = 0.1 })
  local vars = {
    "SF_MY_DOMAIN=" .. base .. "/sf", "SF_CLIENT_ID=sandbox-client-id", "SF_CLIENT_SECRET=sandbox-client-secret",
    "KAPSO_BASE_URL=" .. base .. "/kapso/api/v1", "KAPSO_API_KEY=kapso-test-key",
    "FI_BASE_URL=" .. base .. "/fi", "FI_API_KEY=fi-test-key", "FI_SECRET_KEY=fi-test-secret",
    "GLOW_BASE_URL=" .. base .. "/glow", "GLOW_TOKEN=glow-test-token",
    "EVALUA_TEST_API_KEY=" .. SPECIAL, "SANDBOX=" .. base,
  }
  for i, v in ipairs(vars) do vars[i] = quote(v) end
  local ENV = table.concat(vars, " ")

  -- 1. A suite on all four services that quotes its secrets in every way a test can.
  write(dir .. "/leaky_test.lua", [[
local agentforce = require "evalua.agentforce"
local futureagi = require "evalua.futureagi"
local kapso = require "evalua.kapso"
local glow = require "evalua.glow"
local sf, fi, ka, gl = agentforce.connect({}), futureagi.connect({}), kapso.connect({ pass_score = 8 }), glow.connect({})
local key = secret("EVALUA_TEST_API_KEY")
local base = env("SANDBOX")
local wait = { timeout = "30s", interval = "100ms" }

test("agentforce run", function()
  expect(sf:start("Order_Support_All_Pass"):wait(wait)):to_be_completed()
end)
test("future agi run", function()
  fi:start("d2f8b4a6-9c1e-4f3a-8b7d-5e2c9a1f6b30"):wait(wait):results()
end)
test("kapso run", function()
  expect(ka:start("ca5e0000-0000-4000-8000-000000000001"):wait(wait)):to_be_completed()
end)
test("glow test", function()
  expect(gl:get(gl:create("b3e1a7c0-0000-4000-8000-000000000001"))):to_be_a("table")
end)
test("a failure quoting secrets", function()
  expect(key .. " " .. os.getenv("SF_CLIENT_SECRET") .. " " .. sf.auth:token()):to_equal("something else")
end)
test("a deep-equal diff quoting secrets", function()
  expect({ auth = { key = key, token = sf.auth:token() } }):to_equal({ auth = { key = "x" } })
end)
test("an error quoting secrets", function()
  error("keys: " .. os.getenv("KAPSO_API_KEY") .. " " .. os.getenv("FI_API_KEY") .. " " .. key)
end)
test("an error object quoting secrets", function()
  error({ message = "token " .. sf.auth:token(), key = key })
end)
test("print() and check() quoting secrets", function()
  print("secrets:", key, os.getenv("FI_SECRET_KEY"), os.getenv("GLOW_TOKEN"), os.getenv("SF_CLIENT_SECRET"))
  print("token:", sf.auth:token())
  check("token " .. sf.auth:token() .. " key " .. key, false)
end)
test("secrets in a request", function()
  local res = http.get(base .. "/_/json", { query = { api_key = key },
    headers = { ["X-Note"] = "key " .. key, authorization = "Bearer " .. sf.auth:token() } })
  expect(res.status):to_equal(200)
end)
test("an infra error naming a URL with a secret in it", function()
  http.get("http://user:" .. key .. "@127.0.0.1:1/x?api_key=" .. key, { retry = false })
end)
]])
  local out, _, code = sh(("cd %s && umask 022 && env %s %s/bin/evalua -v test --journal state/journal "
    .. "-r pretty -r json:out/r.json -r junit:out/r.xml -r tap:out/r.tap -r html:out/r.html leaky_test.lua "
    .. "> leaky.stdout 2> leaky.stderr"):format(dir, ENV, ROOT), 90)
  t.is(code, 3, "the tempting suite ran to its end (errors: exit 3)")
  if code ~= 3 then t.diag(mask(out .. (read(dir .. "/leaky.stderr") or ""))) end
  local stdout, stderr = read(dir .. "/leaky.stdout") or "", read(dir .. "/leaky.stderr") or ""
  t.ok(stdout:find("a failure quoting secrets", 1, true) and stderr:find("> GET ", 1, true),
    "the pretty report and the verbose trace were produced")
  t.ok(stdout:find("***", 1, true) ~= nil, "and redacted values show as ***")
  -- Regression test (fixed): a failure's expected/actual and an error object are rendered by
  -- lua/evalua/runner/diff.lua (quote: cut at MAX_STRING, escaped; show: cut at
  -- MAX_TEXT) before the reports redact them, so a secret longer than the cut (the
  -- Salesforce access token here) is printed in part — the JWT's header and payload —
  -- in the pretty report and in every report file; a secret holding a quote, backslash
  -- or control character would be printed escaped, unmasked. Expected: values
  -- redacted before they are cut or escaped.
  no_leak(stdout, "stdout (pretty report)")
  no_leak(stderr, "stderr (verbose trace)")
  for _, r in ipairs({ "r.json", "r.xml", "r.tap", "r.html" }) do
    no_leak(read(dir .. "/out/" .. r), "the " .. r .. " report")
  end
  no_leak(read(dir .. "/state/journal"), "the journal")
  local report = require("cjson.safe").decode(read(dir .. "/out/r.json") or "") or {}
  t.ok(report.tests and #report.tests == 11, "the JSON report holds all 11 tests")

  -- files holding service data are private
  t.is(mode_of(dir .. "/state/journal"), "600", "the journal is created mode 0600")
  for _, r in ipairs({ "r.json", "r.xml", "r.tap", "r.html" }) do
    t.is(mode_of(dir .. "/out/" .. r), "600", r .. " is created mode 0600")
  end
  t.is(mode_of(dir .. "/state"), "700", "the journal's directory is created mode 0700")
  t.is(mode_of(dir .. "/out"), "700", "a report directory is created mode 0700")
  -- even with a permissive umask, and when the file existed before with wider rights
  write(dir .. "/out/r.json", "{}")
  sh("chmod 644 " .. dir .. "/out/r.json")
  sh(("cd %s && umask 000 && env %s %s/bin/evalua test --journal state/journal0 -r json:out/r.json "
    .. "-r junit:out/u.xml leaky_test.lua > /dev/null 2>&1"):format(dir, ENV, ROOT), 90)
  t.is(mode_of(dir .. "/state/journal0"), "600", "umask 000: the journal is still 0600")
  t.is(mode_of(dir .. "/out/u.xml"), "600", "umask 000: a new report is still 0600")
  t.is(mode_of(dir .. "/out/r.json"), "600", "a report replacing a 0644 file is 0600")

  -- 2. Wrong credentials: the error quotes the service, never the credential sent.
  write(dir .. "/wrong_test.lua", [[
local agentforce = require "evalua.agentforce"
local kapso = require "evalua.kapso"
test("agentforce with a wrong secret", function()
  agentforce.connect({}):start("Order_Support_All_Pass")
end)
test("kapso with a wrong key", function()
  kapso.connect({}):start("ca5e0000-0000-4000-8000-000000000001")
end)
]])
  -- (inside the quoted SF_CLIENT_SECRET=... word)
  local wrong = ENV:gsub("sandbox%-client%-secret", (WRONG:gsub("'", "'\\''"):gsub("%%", "%%%%")))
    :gsub("kapso%-test%-key", "wrong-kapso-k3y")
  out, _, code = sh(("cd %s && env %s %s/bin/evalua -v test --journal state/journal -r json:out/wrong.json "
    .. "-r junit:out/wrong.xml wrong_test.lua"):format(dir, wrong, ROOT), 60)
  t.is(code, 4, "wrong credentials: infra (auth) failures, exit 4")
  like(out, "invalid client credentials", "the Salesforce error quotes the service's message")
  like(out, "Invalid or missing API key", "the Kapso error quotes the service's message")
  no_leak(out, "wrong credentials: stdout+stderr")
  no_leak(read(dir .. "/out/wrong.json"), "wrong credentials: the JSON report")
  no_leak(read(dir .. "/out/wrong.xml"), "wrong credentials: the JUnit report")

  -- 3. A script (evalua run) that fails in every way, under -v.
  write(dir .. "/leaky.lua", [[
local key = secret("EVALUA_TEST_API_KEY")
local sf = require("evalua.agentforce").connect({})
local run = sf:start("Order_Support_All_Pass")
print(run)
task.spawn(function() error("background task failed with " .. key) end)
http.get(env("SANDBOX") .. "/_/status/503", { query = { key = key }, retry = { attempts = 2, backoff = "10ms" } })
error("gave up with " .. key .. " and " .. sf.auth:token())
]])
  out, _, code = sh(("cd %s && env -u EVALUA_JOURNAL %s %s/bin/evalua -v leaky.lua"):format(dir, ENV, ROOT), 60)
  t.is(code, 3, "a failing script exits 3")
  like(out, "gave up with %*%*%* and %*%*%*", "its error is printed, redacted")
  no_leak(out, "a failing script's stdout+stderr")
  no_leak(read(dir .. "/.evalua/journal"), "the journal of a script (default .evalua/journal)")
  t.is(mode_of(dir .. "/.evalua/journal"), "600", "the default journal is mode 0600")

  -- 4. The REPL shows values readably; a secret must show as *** there too.
  -- Regression test (fixed): the REPL echoes `secret("NAME")` and a table holding it in clear (its printer,
  -- evalua.inspect, does not redact). Expected *** as everywhere evalua prints
  -- (DESIGN.md: "values read through secret("NAME") are redacted wherever they would be
  -- printed"); likely lua/evalua/repl.lua printing results without redact.
  out = sh(("cd %s && printf 'secret(\"EVALUA_TEST_API_KEY\")\\n{k = secret(\"EVALUA_TEST_API_KEY\")}\\n' "
    .. "| env %s %s/bin/evalua repl"):format(dir, ENV, ROOT), 30)
  like(out, "%*%*%*", "the REPL shows a secret as ***")
  no_leak(out, "the REPL's output")

  -- 5. Credentials written in a URL (not registered with secret()).
  -- Regression test (fixed): the password of a URL's user-info is printed as given in the error and its
  -- `url` field (docs/lua-api.md: "url ... (no secrets: credentials in the URL are
  -- redacted)"). Expected http://user:***@... ; core/http.c builds the error URL with
  -- redact_dup only (registered values), lua/evalua/http.lua.
  out = sh(("%s/bin/evalua -e 'local ok, e = pcall(http.get, \"http://user:url-passw0rd@127.0.0.1:1/x\", "
    .. "{retry = false}) print(e.url) error(e)'"):format(ROOT), 30)
  like(out, "connect error", "a connect error for a URL with user-info")
  no_leak(out, "an error naming a URL with a password")

  -- 6. A token endpoint that echoes the form it was sent (the client secret URL-encoded,
  -- lower-case hex) in its error: the uncaught error is printed by evalua's handler.
  local echoed = WRONG:gsub("[^%w]", function(c) return ("%%%02x"):format(c:byte()) end)
  sandbox.control("faults", { rules = { { path = "^/sf/services/oauth2/token$", times = 1, status = 401,
    body = { error = "invalid_client", error_description = "rejected client_secret=" .. echoed } } } })
  write(dir .. "/echo.lua", [[
local provider = auth.client_credentials { token_url = env("SANDBOX") .. "/sf/services/oauth2/token",
  client_id = "sandbox-client-id", client_secret = secret("SF_CLIENT_SECRET") }
http.get(env("SANDBOX") .. "/_/json", { auth = provider })
]])
  out, _, code = sh(("cd %s && env %s %s/bin/evalua echo.lua"):format(dir, wrong, ROOT), 30)
  t.is(code, 4, "an echoing token endpoint: an auth error, exit 4")
  like(out, "rejected client_secret=%*%*%*", "the echoed secret is printed as ***")
  no_leak(out, "the uncaught-error handler's output")

  sandbox.stop()
end

-- Part 2: the whole suite's outputs and files, after every other test file ran.
local function scan_suite(root)
  local own = root .. "/logs/tests.lua.secrets_test.lua.log"
  local offset = tonumber(os.getenv("EVALUA_REPO_JOURNAL_OFFSET") or "") or 0
  -- what the suite appended to the checkout's own journal (test scripts run there)
  local repo_journal = read(ROOT .. "/.evalua/journal")
  if repo_journal then write(root .. "/kept/repo-journal", repo_journal:sub(offset + 1)) end
  local logs = sh("ls " .. root .. "/logs | wc -l"):match("%d+")
  local files = sh(("find %s/logs %s/tmp %s/kept -type f | wc -l"):format(root, root, root)):match("%d+")
  t.ok(tonumber(logs) > 10, ("the suite's outputs were captured (%s test files, %s files in all)"):format(logs, files))
  -- Planted leaks prove the scan finds one, as given and encoded.
  local canary = root .. "/kept/canary.log"
  local special = SECRETS[6].forms
  write(canary, "planted: " .. SPECIAL .. "\nplanted: " .. special[#special] .. "\nplanted: "
    .. (SPECIAL:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#x27;" }))
    .. "\n")
  -- Every form of every secret, one fixed string a line. The file is removed with
  -- os.remove, not rm: the harness keeps what rm removes for this very scan (and a copy
  -- of this file run under tests/sanitize.sh must not leave one behind).
  local patterns = {}
  for _, sec in ipairs(SECRETS) do
    for _, f in ipairs(sec.forms) do patterns[#patterns + 1] = f end
  end
  local pattern_file = dir .. "/patterns"
  write(pattern_file, table.concat(patterns, "\n") .. "\n")
  -- Inputs the tests wrote (scripts, test files) are not outputs; this file's own log
  -- is still being written and its own files were checked one by one above.
  local filter = ("grep -v -e '\\.lua$' -e '^%s$' -e '^%s/'"):format(own, os.getenv("TMPDIR") or "/nonexistent")
  local hits = sh(("{ grep -rlaF -f %s %s/logs %s/tmp %s/kept; grep -rlaE '%s' %s/logs %s/tmp %s/kept; } "
    .. "| sort -u | %s; true"):format(quote(pattern_file), root, root, root, JWT, root, root, root, filter), 120)
  os.remove(pattern_file)
  local leaked = {}
  for path in hits:gmatch("[^\n]+") do
    local n = 0
    for line in (read(path) or ""):gmatch("[^\n]*") do
      n = n + 1
      local found = leaks(line)
      if #found > 0 then
        leaked[#leaked + 1] = ("%s:%d: %s"):format(path:sub(#root + 2), n, table.concat(found, ", "))
        if #leaked >= 40 then break end
      end
    end
  end
  os.remove(canary)
  local planted = {}
  for i = #leaked, 1, -1 do
    if leaked[i]:find("^kept/canary%.log:%d: secret%(%) value") then planted[#planted + 1] = table.remove(leaked, i) end
  end
  t.is(#planted, 3, "the scan finds a planted secret, as given, percent-encoded and HTML-escaped")
  t.is(#leaked, 0, "no output of the whole suite (stdout, stderr, reports, journals, files) holds a secret")
  for _, l in ipairs(leaked) do t.diag("  " .. l) end
end

local ok, err = xpcall(scenarios, debug.traceback)
sandbox.stop()
if not ok then
  t.ok(false, "the scenarios ran")
  t.diag(err)
end
local root = os.getenv("EVALUA_SCAN_ROOT")
if root and root ~= "" then
  scan_suite(root)
else
  t.diag("EVALUA_SCAN_ROOT not set (run through tests/run-all): the whole-suite scan is skipped")
end
if os.getenv("KEEP") then t.diag("kept " .. dir) else sh("rm -rf " .. dir) end
t.done()
