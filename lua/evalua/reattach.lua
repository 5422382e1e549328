--- reattach: find a run the journal recorded again on its service, with the user's
-- configuration (credentials and base URLs from the environment, as for connect{}),
-- never the journal's (a file others can shape): a run the journal places at another
-- origin is not contacted unless the caller allows that origin. Used by `evalua resume`
-- and `evalua report diff --journal`.
local errors = require "evalua.errors"

local reattach = {}

--- reattach.origin(url) -> "scheme://host:port" (default ports spelt out), or nil.
function reattach.origin(url)
  local scheme, host, port = tostring(url):lower():match("^(https?)://([^/:?#]+):?(%d*)")
  if not scheme then return nil end
  if port == "" then port = scheme == "https" and "443" or "80" end
  return ("%s://%s:%s"):format(scheme, host, port)
end

-- A client from the user's configuration for the journal's descriptor `d`, or raises a
-- config error when the journal places the run at another origin (not in `allowed`).
local function client_for(d, allowed)
  local provider = require("evalua." .. d.provider)
  local client = provider.connect({})
  local theirs, ours = reattach.origin(d.base_url), reattach.origin(client.base_url)
  if theirs and ours and theirs ~= ours then
    if not allowed[theirs] then
      errors.raise({ kind = "config", message = ("journal names host %s, configured host is %s: not contacted "
        .. "(pass --allow-origin %s to send your credentials there)"):format(theirs, ours, theirs) })
    end
    client = provider.connect({ base_url = d.base_url })
  end
  return client
end

--- reattach.fetch(d, opts) -> run: attach to descriptor `d`, wait for it (opts.timeout
-- seconds) and fetch its results (with opts.pass_score where the service scores without a
-- pass mark). opts.allow_origin: a set of other origins that may be contacted.
function reattach.fetch(d, opts)
  local client = client_for(d, opts.allow_origin or {})
  local desc = {}
  for k, v in pairs(d) do desc[k] = v end
  desc.base_url = client.base_url
  local run = client:attach(desc)
  run:wait({ timeout = opts.timeout })
  if run.results then
    local scored = opts.pass_score and client.results_options and client.results_options.pass_score
    run:results(scored and { pass_score = opts.pass_score } or nil)
  end
  return run
end

return reattach
