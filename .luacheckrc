-- luacheck configuration for evalua's Lua library, tests and scripts.
max_line_length = 160
-- Globals evalua gives every script, test file and REPL line.
stds.evalua = { read_globals = { "json", "http", "task", "poll", "auth", "env", "secret", "evalua" } }
std = "lua54+evalua"

-- Library code never reads the script globals (a script may assign its own `http`):
-- every module requires what it uses.
files["lua/evalua/providers"] = { std = "lua54" }
files["lua/evalua/model.lua"] = { std = "lua54" }
files["lua/evalua/script.lua"] = { std = "lua54" }
files["lua/evalua/boot.lua"] = { globals = { "arg", "coroutine" } }
files["lua/evalua/coroutine.lua"] = { globals = { "coroutine" } }
-- Test files and example suites use the test DSL's globals.
local dsl = { "test", "describe", "before_all", "after_all", "before_each", "after_each",
              "expect", "check", "threshold", "skip" }
files["scripts/examples"] = { read_globals = dsl }
files["tests/runner"] = { read_globals = dsl }
