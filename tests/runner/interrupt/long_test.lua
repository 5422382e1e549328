-- Interrupted while a remote run is in flight.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fake = dofile(here .. "../fake_provider.lua")

test("quick", function() end)

test("long run", function()
  fake.start({ id = "LONG", after = 100, cases = fake.cases("m", { true }) }):wait()
end)
