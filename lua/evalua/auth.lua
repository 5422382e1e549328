--- auth: credentials for requests. A provider is passed as `auth = p` to any http
-- call; it adds its headers (p:apply(spec)) and, on a 401, may refresh once
-- (p:refresh(response) -> true to replay). Every secret value is registered for
-- redaction, so tokens and keys never reach traces, errors or reports.
local duration = require "evalua.duration"
local tokens = require "evalua.token"
local errors = require "evalua.errors"
local redact = require "evalua.redact"

local auth = {}
local argerror = errors.argerror

local function check_secret(v, argn, fname, what)
  if type(v) ~= "string" or v == "" then
    argerror(argn, fname, what .. " must be a non-empty string, got " .. (v == "" and "an empty string" or type(v)))
  end
  redact.register(v)
end

local StaticProvider = {}
StaticProvider.__index = StaticProvider
StaticProvider.__name = "evalua.auth"
StaticProvider.__tostring = function(p) return "auth provider (" .. p.kind .. ")" end

function StaticProvider:apply(spec)
  for name, value in pairs(self.headers) do spec.headers[name] = value end
end

-- provider:stamp(previous) -> {headers = {name = value}, hold?, auth_generation?}: the
-- headers apply() would add, for a template of requests (http.lua's authorized GETs).
-- The same stamp comes back while they stay the same, so the template is kept.
function StaticProvider:stamp()
  local s = self.stamped
  if not s then
    s = { headers = self.headers }
    self.stamped = s
  end
  return s
end

--- auth.api_key{header = "X-Api-Key", value = secret("KEY")}
--- auth.api_key{headers = {["X-Api-Key"] = k, ["X-Secret-Key"] = s}}
function auth.api_key(opts)
  if type(opts) ~= "table" then argerror(1, "api_key", "table expected, got " .. type(opts)) end
  local headers = {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then argerror(1, "api_key", "headers must be a table") end
    for name, value in pairs(opts.headers) do
      if type(name) ~= "string" then argerror(1, "api_key", "header names must be strings") end
      check_secret(value, 1, "api_key", "the value of header " .. name)
      headers[name:lower()] = value
    end
  else
    if type(opts.header) ~= "string" then argerror(1, "api_key", "'header' (the header name) is required") end
    check_secret(opts.value, 1, "api_key", "'value'")
    headers[opts.header:lower()] = opts.value
  end
  if next(headers) == nil then argerror(1, "api_key", "no header given") end
  return setmetatable({ kind = "api key", headers = headers }, StaticProvider)
end

--- auth.bearer(token)
function auth.bearer(token)
  check_secret(token, 1, "bearer", "token")
  return setmetatable({ kind = "bearer", headers = { authorization = "Bearer " .. token } }, StaticProvider)
end

---------------------------------------------------------------------------
-- OAuth 2.0 client credentials (Salesforce)

--- The `exp` claim of a JWT (epoch seconds), or nil when the token is not a JWT.
auth.jwt_expiry = tokens.jwt_expiry

--- Seconds from now until the token expires: `expires_in`, else the JWT's `exp`,
-- else `issued_at` (epoch ms) + 30 minutes, else 30 minutes.
auth.token_lifetime = tokens.lifetime

local ClientCredentials = {}
ClientCredentials.__index = ClientCredentials
ClientCredentials.__name = "evalua.auth"
ClientCredentials.__tostring = function(p) return "auth provider (client credentials for " .. p.token_url .. ")" end

-- The endpoint's own words: OAuth's {error, error_description}, Salesforce's REST list
-- [{errorCode, message}], or the start of a plain-text body (masked before it is cut:
-- an endpoint may echo the form it was sent).
local function token_error(res, url)
  local ok, doc = pcall(res.json, res)
  local code, text
  if ok and type(doc) == "table" then
    local first = type(doc[1]) == "table" and doc[1] or doc
    code = first.error or first.errorCode
    text = first.error_description or first.message or first.error
  elseif res.body:match("%S") then
    text = redact.redact(res.body):sub(1, 200):gsub("<[^>]*>", " "):gsub("%s+", " ")
  end
  code = type(code) == "string" and code or nil
  text = text ~= nil and tostring(text) or nil
  errors.raise({
    kind = "auth", status = res.status, url = url, method = "POST",
    vendor_code = code, vendor_message = text,
    message = text and ("token request refused: %s"):format(text) or ("token request failed with HTTP %d"):format(res.status),
  }, 3)
end

-- Why a token's lifetime is what it is, for an error about it.
local function lifetime_source(doc, lifetime)
  local n = tonumber(doc.expires_in)
  if n then return ("expires_in: %g"):format(n) end
  if auth.jwt_expiry(doc.access_token) then
    return ("its JWT exp is %.0f s in the past: is this machine's clock ahead?"):format(-lifetime)
  end
  return ("issued_at: %s"):format(tostring(doc.issued_at))
end

function ClientCredentials:fetch()
  local http = require "evalua.http"
  local form = { grant_type = "client_credentials", client_id = self.client_id, client_secret = self.client_secret }
  if self.scope then form.scope = self.scope end
  -- Asking for a token twice is harmless: the request may be retried like a GET.
  -- same_origin: the body carries the client secret, so no redirect may take it elsewhere.
  local res = http.post(self.token_url, { form = form, retry = { idempotent = true }, same_origin = true })
  if not res:ok() then token_error(res, self.token_url) end
  local doc = res:json()
  if type(doc) ~= "table" or type(doc.access_token) ~= "string" then
    errors.raise({ kind = "auth", url = self.token_url, status = res.status,
                   message = "token response has no access_token" }, 2)
  end
  local lifetime = auth.token_lifetime(doc)
  if lifetime <= 0 then
    errors.raise({ kind = "auth", url = self.token_url, status = res.status, method = "POST",
                   message = ("token endpoint returned a token that has already expired (%s)"):format(
                     lifetime_source(doc, lifetime)) }, 2)
  end
  self.lifetime = lifetime
  tokens.put(self.key, doc.access_token, lifetime)
  self.instance = doc.instance_url
  self.response = doc
  return doc.access_token
end

--- provider:token() -> a valid access token, fetched or refreshed when needed.
-- One fetch at a time: concurrent callers wait for it.
-- What a provider last read from the cache: {generation, token, life, margin}. A request
-- asks the cache only whether that generation is still good, so the token is not copied
-- out of it for every request. (Kept off the provider table, which a script may print.)
local last = setmetatable({}, { __mode = "k" })

function ClientCredentials:token()
  -- Refresh `margin` early, but never so early that a short-lived token is refreshed on
  -- every request; at least a second early (JWT times are whole seconds), at most half
  -- its life.
  local life = self.lifetime or 0
  local seen = last[self]
  local margin
  if seen and seen.life == life then margin = seen.margin
  else margin = math.min(self.margin, math.max(life / 4, math.min(1, life / 2))) end
  local generation = tokens.generation(self.key, margin)
  if generation and self.instance then
    if seen and seen.generation == generation then return seen.token, generation end
    local cached
    cached, generation = tokens.get(self.key, margin)
    if cached then
      last[self] = { generation = generation, token = cached, life = life, margin = margin }
      return cached, generation
    end
  end
  local task = require "evalua.task"
  if not self.fetching then
    self.fetching = task.detached(function() return self:fetch() end) -- shared by every waiter
  end
  local pending = self.fetching
  local ok, result = pcall(task.wait, pending)
  if self.fetching == pending then self.fetching = nil end
  if not ok then error(result, 0) end
  local cached
  cached, generation = tokens.get(self.key, 0)
  if not cached then
    errors.raise({ kind = "auth", url = self.token_url,
                   message = ("the token expired before it could be used (lifetime %gs)"):format(self.lifetime) }, 2)
  end
  return cached, generation
end

-- The request holds its token (evalua.token's hold): a token replaced meanwhile stays
-- redacted until every request sent with it is gone (its response may echo it).
function ClientCredentials:apply(spec)
  local token, generation = self:token()
  spec.headers.authorization = "Bearer " .. token
  spec.auth_generation = generation
  spec.auth_hold = tokens.hold(generation)
end

-- A stamp per token (see StaticProvider:stamp): made when the token changes, holding it
-- as apply() does, for as long as the template made from it (and its requests) live.
function ClientCredentials:stamp(previous)
  local token, generation = self:token()
  if previous and previous.auth_generation == generation then return previous end
  return { headers = { authorization = "Bearer " .. token }, auth_generation = generation,
           hold = tokens.hold(generation) }
end

-- A 401 means the token died early (revoked, shorter admin policy): drop it so the
-- replay fetches a new one -- unless another request already replaced it.
function ClientCredentials:refresh(_, spec) -- spec: a request's spec or a stamp
  tokens.drop(self.key, spec.auth_generation)
  return true
end

--- provider:instance_url() -> the `instance_url` of the token response
function ClientCredentials:instance_url()
  self:token()
  return self.instance
end

--- auth.client_credentials{token_url, client_id, client_secret, scope?, refresh_margin?}
function auth.client_credentials(opts)
  if type(opts) ~= "table" then argerror(1, "client_credentials", "table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if k ~= "token_url" and k ~= "client_id" and k ~= "client_secret" and k ~= "scope" and k ~= "refresh_margin" then
      argerror(1, "client_credentials", "unknown option '" .. tostring(k) .. "'")
    end
  end
  if type(opts.token_url) ~= "string" or not opts.token_url:match("^https?://") then
    argerror(1, "client_credentials", "token_url must be an http(s) URL, got " .. tostring(opts.token_url))
  end
  if type(opts.client_id) ~= "string" or opts.client_id == "" then
    argerror(1, "client_credentials", "client_id must be a non-empty string")
  end
  check_secret(opts.client_secret, 1, "client_credentials", "client_secret")
  return setmetatable({
    token_url = opts.token_url, client_id = opts.client_id, client_secret = opts.client_secret,
    scope = opts.scope, margin = duration.seconds(opts.refresh_margin or 60),
    -- The token cache in the C core is shared by every client of the same org.
    key = opts.token_url .. "\n" .. opts.client_id,
  }, ClientCredentials)
end

return auth
