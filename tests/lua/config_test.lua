-- evalua.config.lua and --env-file: discovery upward, profiles (--profile,
-- EVALUA_PROFILE, the file's default), unknown keys as file:line errors (exit 2), env
-- file values as redacted secrets, `evalua config`, providers and `evalua test` taking
-- their settings from the active profile.
local t = require "tap"
local shell = require "shell"

local bin = os.getenv("PWD") .. "/bin/evalua"
local dir = shell.tmpdir()
os.execute(("mkdir -p %s/proj/sub/deeper"):format(dir))

local function sh(cmd, cwd)
  return shell.sh(("cd %s && env -u EVALUA_PROFILE -u SF_MY_DOMAIN -u SF_CLIENT_ID -u SF_CLIENT_SECRET %s")
    :format(cwd or (dir .. "/proj"), (cmd:gsub("%f[%w]evalua ", bin .. " ", 1))), 60)
end

shell.write(dir .. "/proj/evalua.config.lua", [[
return {
  profile = "sandbox",
  defaults = {
    agentforce = { client_id = "the-client-id", env = { client_secret = "SF_CFG_SECRET" } },
    test = { jobs = 3 },
  },
  profiles = {
    sandbox = {
      agentforce = { base_url = "http://127.0.0.1:9/sandbox", api_version = "62.0" },
    },
    prod = {
      agentforce = { base_url = "https://prod.example.com", env = { client_secret = "SF_PROD_SECRET" } },
      test = { reporters = { "tap" }, thresholds = { pass_rate = 0.95 } },
    },
  },
}
]])
shell.write(dir .. "/proj/.env", "# credentials\nSF_CFG_SECRET=env-file-s3cret-one\nexport SF_PROD_SECRET='env-file-s3cret-two'\n")
shell.write(dir .. "/proj/connect.lua", [[
local c = require("evalua.providers.agentforce").connect()
print("url=" .. c.base_url, "version=" .. c.api_version, "id=" .. c.auth.client_id)
]])

-- discovery and profiles
local out, code = sh("evalua config", dir .. "/proj/sub/deeper")
t.ok(code == 0 and out:find("file: ../../evalua.config.lua", 1, true), "found upward from a subdirectory")
t.ok(out:find("profile: sandbox (from the file's default)", 1, true), "the file's default profile, and why")
t.ok(out:find('agentforce.base_url = "http://127.0.0.1:9/sandbox"', 1, true), "profile values shown")
t.ok(out:find("agentforce.client_secret from $SF_CFG_SECRET (not set)", 1, true), "secret variables shown by name")
out = sh("EVALUA_PROFILE=prod evalua config")
t.ok(out:find("profile: prod (from EVALUA_PROFILE)", 1, true), "EVALUA_PROFILE chooses")
out = sh("EVALUA_PROFILE=prod evalua --profile sandbox config")
t.ok(out:find("profile: sandbox (from --profile)", 1, true), "--profile wins over EVALUA_PROFILE")
out = sh("evalua config --profile=prod")
t.ok(out:find("profile: prod", 1, true), "--profile=NAME after the command")
t.ok(out:find('test.jobs = 3', 1, true) and out:find('test.thresholds.pass_rate = 0.95', 1, true),
  "defaults merged under the profile")
out, code = sh("evalua --profile staging config")
t.ok(code == 2 and out:find("no profile 'staging'") and out:find("prod, sandbox"), "unknown profile: exit 2, lists them")
out, code = sh("evalua --profile prod -e 'print(1)'", dir)
t.ok(code == 2 and out:find("needs a configuration file"), "a profile without any configuration: exit 2")
code = select(2, sh("evalua -e 'print(1)'", dir))
t.ok(code == 0, "no configuration file is fine")

-- unknown keys and bad values name the file and line
shell.write(dir .. "/bad.lua", "return {\n  profiles = {\n    prod = {\n      agentforce = {\n        base_url = 'x',\n"
  .. "        bse_url = 'y',\n      },\n    },\n  },\n}\n")
out, code = sh("evalua --config ../bad.lua config")
t.ok(code == 2 and out:find("../bad.lua:6: unknown key 'bse_url' in profiles.prod.agentforce", 1, true),
  "unknown key: exit 2 with file:line")
shell.write(dir .. "/bad.lua", "return {\n  profiles = { p = {\n    kapso = { env = { api_key = 'not a name' } } } },\n}\n")
out, code = sh("evalua --config ../bad.lua -e 'print(1)'")
t.ok(code == 2 and out:find("../bad.lua:3: profiles.p.kapso.env.api_key must name an environment variable", 1, true),
  "bad variable name: file:line")
shell.write(dir .. "/bad.lua", "return {\n  profiles = { p = {\n    test = {\n      thresholds = { pass_rte = 1 } } } },\n}\n")
out, code = sh("evalua --config ../bad.lua config")
t.ok(code == 2 and out:find("../bad.lua:4:", 1, true) and out:find("unknown key pass_rte", 1, true),
  "thresholds are checked when the file is loaded")
shell.write(dir .. "/bad.lua", "return { profiles = {\n")
out, code = sh("evalua --config ../bad.lua config")
t.ok(code == 2 and out:find("../bad.lua:", 1, true), "a syntax error in the file: exit 2")
out, code = sh("evalua --config ../missing.lua config")
t.ok(code == 2 and out:find("cannot read configuration file ../missing.lua", 1, true), "a missing --config: exit 2")

-- env files
shell.write(dir .. "/bad.env", "GOOD=1\nthis is not an assignment\n")
out, code = sh("evalua --env-file ../bad.env config")
t.ok(code == 2 and out:find("../bad.env:2: expected KEY=VALUE", 1, true), "bad env file line: exit 2 with file:line")
out, code = sh("evalua --env-file .env -e 'error(\"leak \" .. env(\"SF_CFG_SECRET\") .. \" \" .. env(\"SF_PROD_SECRET\"))'")
t.ok(code == 3 and out:find("leak %*%*%* %*%*%*") and not out:find("env%-file%-s3cret"),
  "values from the env file are secrets: redacted in errors (quotes and export handled)")
out = sh("SF_CFG_SECRET=from-the-process evalua --env-file .env -e 'print(env(\"SF_CFG_SECRET\"))'")
t.ok(out:find("from%-the%-process"), "the process environment wins over the env file")
out, code = sh("evalua --env-file .env config")
t.ok(code == 0 and out:find("SF_CFG_SECRET (set)", 1, true) and out:find("SF_CFG_SECRET, SF_PROD_SECRET", 1, true)
  and not out:find("env%-file%-s3cret"), "`evalua config` lists env file variables, never their values")

-- providers take base URL, version, client id and the secret's variable from the profile
out, code = sh("evalua --env-file .env connect.lua")
t.ok(code == 0 and out:find("url=http://127.0.0.1:9/sandbox\tversion=62.0\tid=the-client-id", 1, true),
  "connect{} uses the profile's base URL, API version and client id")
out, code = sh("evalua connect.lua")
t.ok(code == 2 and out:find("set SF_CFG_SECRET", 1, true), "the profile names the variable a missing secret should be in")
out, code = sh("evalua --profile prod --env-file .env connect.lua")
t.ok(code == 0 and out:find("url=https://prod.example.com\tversion=63.0", 1, true), "another profile, another URL")
out = sh("SF_MY_DOMAIN=https://env.example.com evalua --env-file .env connect.lua")
t.ok(out:find("url=http://127.0.0.1:9/sandbox", 1, true), "the chosen profile wins over the default variables")

-- evalua test takes its defaults from the profile; the command line wins
shell.write(dir .. "/proj/one_test.lua", "test('one', function() expect(1):to_be(1) end)\n")
out, code = sh("evalua test --profile prod one_test.lua")
t.ok(code == 0 and out:find("ok 1 %- one"), "reporters from the profile (tap)")
out, code = sh("evalua test --profile prod -r pretty one_test.lua")
t.ok(code == 0 and not out:find("ok 1 %- one"), "-r on the command line replaces the profile's reporters")

os.execute("rm -rf " .. dir)
t.done()
