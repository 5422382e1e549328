-- The Glow fixtures (tests/fixtures/glow/, see its SOURCES.txt), decoded.
local fixture = require "fixture"

return function(name)
  return fixture("glow/" .. name)
end
