--- progress: a status line of the runs in flight.
local progress = {}

function progress.configure(settings)
  progress.settings = settings
end

return progress
