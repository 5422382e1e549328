-- The HTML reporter, rendered in headless Chromium: one self-contained page whose
-- numbers match the JSON report, with a working filter (driven by the #filter= fragment).
local h = require "tests.runner.harness"
local tap = require "tap"
local report = require "evalua.report"
local stats = require "evalua.runner.stats"

local dir = h.tmpdir()
local data = h.session({ "tests/runner/passing", "tests/runner/failing", "tests/runner/infra",
                         "tests/runner/runs" })
local page = report.render("html", data)
local file = dir .. "/report.html"
h.write(file, page)

tap.like(page, "^<!DOCTYPE html>", "an HTML document")
tap.ok(not page:find("<script src", 1, true) and not page:find("<link", 1, true)
  and not page:find("url%(") and not page:find("@import", 1, true), "self-contained: no external resources")

local runs = {}
for _, f in ipairs(data.files) do for _, r in ipairs(f.runs or {}) do runs[#runs + 1] = r end end
for _, t in ipairs(data.tests) do for _, r in ipairs(t.runs or {}) do runs[#runs + 1] = r end end
local cases = stats.cases(runs)
local failed_cases, bot_cases = 0, 0
for _, c in ipairs(cases) do
  if stats.case_verdict(c) == false then failed_cases = failed_cases + 1 end
  if stats.metric(c, "bot_response_rating") then bot_cases = bot_cases + 1 end
end

-- Chromium's DOM after the page's script ran, for `fragment`.
local function dom(fragment)
  local profile = h.tmpdir()
  local out = h.sh(("chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
    .. "--disable-component-update --disable-sync --no-first-run --user-data-dir=%s --dump-dom 'file://%s%s' "
    .. "2>/dev/null"):format(profile, file, fragment or ""), 90)
  os.execute("rm -rf " .. profile)
  return out
end

local function text_of(html, id)
  return html:match('id="' .. id:gsub("%-", "%%-") .. '">([^<]*)<')
end

local has_chromium = os.execute("command -v chromium >/dev/null 2>&1")
if not has_chromium then
  tap.diag("chromium not installed: rendering checks skipped")
else
  local html = dom()
  tap.like(html, '<h1>evalua report</h1>', "Chromium renders the page")
  for _, o in ipairs({ "total", "passed", "failed", "error", "infra", "skipped" }) do
    local want = o == "total" and data.summary.total or data.summary[o]
    tap.is(text_of(html, o), tostring(want), ("summary %s matches the JSON report"):format(o))
  end
  local rate, passed, counted = stats.pass_rate(runs)
  tap.is(text_of(html, "case-pass-rate"), ("%.1f%%"):format(rate * 100), "case pass rate matches")
  tap.like(html, ("case pass rate %%(%d/%d%%)"):format(passed, counted), "with its counts")
  for _, m in ipairs(stats.by_metric(runs)) do
    tap.like(html, ('data%%-metric="%s" data%%-rate="%.6f" data%%-passed="%d" data%%-counted="%d"')
      :format(m.name, m.rate, m.passed, m.counted), "chart bar for " .. m.name .. " matches")
    tap.like(html, ('class="hist" data%%-metric="%s" data%%-count="%d"'):format(m.name, #m.scores),
      "score histogram for " .. m.name)
  end
  tap.is(text_of(html, "shown"), ("%d of %d cases shown"):format(#cases, #cases), "no filter: every case shown")
  local _, fail_rows = html:gsub('<tr class="case%-row case%-fail"', "")
  tap.is(fail_rows, failed_cases, "failing cases are highlighted")

  html = dom("#outcome=failed")
  tap.is(text_of(html, "shown"), ("%d of %d cases shown"):format(failed_cases, #cases), "outcome filter from the URL")
  local _, hidden_fail = html:gsub('class="case%-row case%-fail hidden"', "")
  tap.is(hidden_fail, 0, "failing cases stay visible")

  html = dom("#outcome=infra")
  local _, infra_shown = html:gsub('<tr class="test%-row" data%-outcome="infra"', "")
  local _, others_shown = html:gsub('<tr class="test%-row" data%-outcome="[^i]', "")
  tap.ok(infra_shown == data.summary.infra and others_shown == 0, "#outcome=infra shows the infra tests only")

  html = dom("#filter=bot_response")
  tap.is(text_of(html, "shown"), ("%d of %d cases shown"):format(bot_cases, #cases), "text filter from the URL")
  tap.like(html, '<tr class="test%-row hidden"', "the filter applies to the tests table too")

  local png = dir .. "/shot.png"
  local profile = h.tmpdir()
  h.sh(("chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=%s --screenshot=%s "
    .. "--window-size=1200,900 'file://%s' 2>/dev/null"):format(profile, png, file), 90)
  os.execute("rm -rf " .. profile)
  local shot = h.read(png)
  tap.ok(shot and #shot > 10000, "a screenshot renders")
end

os.execute("rm -rf " .. dir)
tap.done()
