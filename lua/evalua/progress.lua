--- progress: a status line of the runs in flight.
local progress = {}

local settings = {}

function progress.configure(s)
  settings = s or {}
end

--- progress.color(fd) -> whether to colour what goes to fd: --color=always|never, else
-- (auto) on a terminal unless NO_COLOR is set.
function progress.color(fd)
  if settings.color == "always" then return true end
  if settings.color == "never" then return false end
  return require("evalua.readline").isatty(fd) and (os.getenv("NO_COLOR") or "") == ""
end

return progress
