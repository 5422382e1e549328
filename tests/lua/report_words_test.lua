-- What the reports say, and how: counts that agree, words a test engineer can act on,
-- the user's line first, classnames of absolute paths, histograms of a million scores,
-- and vendor text that cannot forge a CI annotation or drive the terminal.
local h = require "tests.runner.harness"
local tap = require "tap"
local report = require "evalua.report"

local dir = h.tmpdir()

-- header and footer count the same things (tests, thresholds), in good English
local data = h.session({ "tests/runner/runs" })
local pretty = report.render("pretty", data)
local header = pretty:match("^evalua test: ([^\n]*)")
local footer = pretty:match("\n([^\n]*): %d+ passed[^\n]*\n$")
tap.like(header, "^%d+ tests, %d+ thresholds in 2 files$", "the header counts tests and thresholds")
tap.is(footer, header:match("^(.-) in %d+ files$"), "and the footer counts the same")
local one = h.session({ "tests/runner/erroring" })
tap.like(report.render("pretty", one), "^evalua test: 2 tests in 1 file\n", "'1 file', not '1 files'")

-- an error's traceback starts at the user's line, not inside evalua
local err = h.by_name(one)["calls a nil value"].error
tap.like(err.traceback, "^stack traceback:\n\ttests/runner/erroring/error_test%.lua:4:", "the traceback starts in the test file")
tap.ok(not err.traceback:find("lua/evalua/", 1, true), "with no evalua frames")

-- JUnit classname of a file given by its absolute path: relative to the working directory
local abs = (os.getenv("PWD") or "") .. "/tests/runner/passing/basic_test.lua"
local abs_data = h.session({ abs })
tap.like(report.render("junit", abs_data), 'classname="tests%.runner%.passing%.basic_test"',
  "an absolute path under the working directory gives the relative classname")
h.write(dir .. "/x_test.lua", 'test("t", function() end)\n')
tap.like(report.render("junit", h.session({ dir .. "/x_test.lua" })), 'classname="tmp%.[^"]*%.x_test"',
  "a path elsewhere has no leading dot")

-- a million scores for one metric: the HTML report renders its histogram
local scores = {}
for i = 1, 1200000 do scores[i] = (i % 100) / 100 end
local out = {}
require("evalua.report.html").histogram(out, { name = "m", scores = scores, mean = 0.495 })
local svg = table.concat(out)
tap.like(svg, 'data%-count="1200000"', "1.2 million scores make a histogram (no 'too many results to unpack')")
tap.like(svg, '<g class="bin" data%-count="120000">', "each bin says its count")
tap.like(svg, ">120000</text>", "the count axis shows the tallest bin")

-- vendor text with control characters: escaped on terminals and in logs
local evil = "Refund\n::error title=forged::owned\27[2J\r"
local forged = { format = "evalua-session/1", files = {}, tests = {
  { kind = "test", id = "x#1", file = "x_test.lua", name = evil, full_name = evil, outcome = "failed",
    output = "line one\n::warning::forged\27]0;title\7",
    failures = { { message = "case " .. evil .. " failed", expected = "a\n::error::x", actual = "b" } },
    runs = { { provider = "fake", id = "R", status = "completed",
               cases = { { name = evil, metrics = { { name = "m\n::error::metric", passed = false } } } } } } } } }
require("evalua.runner.session").summarize(forged)
local shown = { pretty = "Refund\\n::error title=forged::owned\\x1b%[2J\\r",
                tap = "Refund ::error title=forged::owned\\x1b%[2J" }
for _, fmt in ipairs({ "pretty", "tap" }) do
  local text = report.render(fmt, forged)
  tap.ok(not text:find("\n::", 1, true), fmt .. ": no outside text starts a line with '::'")
  tap.ok(not text:find("\27", 1, true) and not text:find("\r", 1, true) and not text:find("\7", 1, true),
    fmt .. ": no raw ESC, CR or BEL")
  tap.like(text, shown[fmt], fmt .. ": the name is shown escaped")
end

os.execute("rm -rf " .. dir)
tap.done()
