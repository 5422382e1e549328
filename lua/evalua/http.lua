--- http: requests from tasks, on the C core's libcurl multi handle.
-- This file turns options into a normalized spec for `transfer.send` (which owns
-- transfers, retries and backoff) and wraps what comes back.
local transfer = require "evalua.transfer"
local json = require "evalua.json"
local errors = require "evalua.errors"
local task = require "evalua.task"
local check = require "evalua.check"

local http = {}

local defaults = {
  timeout = 30,
  connect_timeout = 10,
  max_body = 64 * 1024 * 1024,
  retry = { attempts = 4, backoff = 0.2, max_backoff = 30, statuses = { 429, 502, 503, 504 } },
  insecure = false,
  deadline = nil,           -- seconds for the whole call (every attempt and wait); nil: none
  compressed = false,       -- ask for gzip/deflate/br (worth it for large bodies only)
}

local methods = { GET = true, HEAD = true, POST = true, PUT = true, PATCH = true, DELETE = true, OPTIONS = true }
local known_options = {
  method = true, url = true, headers = true, query = true, body = true, json = true, form = true,
  timeout = true, connect_timeout = true, retry = true, auth = true, max_body = true, insecure = true,
  deadline = true, same_origin = true, compressed = true, decode = true,
}

local argerror = errors.argerror

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end
http.urlencode = urlencode

-- Keys sorted so that the same table always gives the same URL (and cache key).
local function encode_pairs(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    if type(v) == "table" then
      for _, item in ipairs(v) do out[#out + 1] = urlencode(k) .. "=" .. urlencode(item) end
    elseif v ~= false then
      out[#out + 1] = urlencode(k) .. "=" .. urlencode(v)
    end
  end
  return table.concat(out, "&")
end
http.encode_form = encode_pairs

---------------------------------------------------------------------------
-- Responses

-- A response is made by the core: {status, method} and its transfer, from which body,
-- headers, raw_headers, url, elapsed, attempts and redirects are read on first use
-- (transfer.set_response_metatable makes __index do that; the keys here are the methods).
local Response = {}
Response.__name = "evalua.response"

function Response.__tostring(r)
  return ("HTTP %d from %s (%d bytes, %.0f ms)"):format(r.status, r.url, (transfer.body_head(r)), r.elapsed * 1000)
end

-- pairs(res): every field of the response, made now (they are made on first use), and not
-- the core's private key to its Request or the cache of :json().
local LAZY = { "headers", "raw_headers", "url", "elapsed", "attempts", "redirects" }
local function public_next(t, k)
  local v
  repeat k, v = next(t, k) until type(k) == "string" and k ~= "_json" or k == nil
  return k, v
end
function Response.__pairs(r)
  for _, k in ipairs(LAZY) do local _ = r[k] end
  pcall(function() return r.body end)   -- not kept when decoded as it arrived
  return public_next, r, nil
end

--- response:json() -> decoded body (cached); a `protocol` error when it is not JSON.
-- (The method is the core's, decoding straight from the received bytes; this raises.)
local function not_json(self, err)
  local ctype = self.headers["content-type"] or "none"
  local size, head = transfer.body_head(self)
  local start = head:sub(1, 60):gsub("%s+", " ")
  errors.raise({
    kind = "protocol", url = self.url, status = self.status, method = rawget(self, "method"),
    message = ("response is not JSON (content-type %s, %d bytes, starts %q): %s")
      :format(ctype, size, start, tostring(err):gsub("^json%.decode: ", "")),
  }, 3)
end

--- response:ok() -> whether the status is 2xx
function Response:ok()
  return self.status >= 200 and self.status < 300
end

transfer.set_response_metatable(Response, not_json)
http.Response = Response

---------------------------------------------------------------------------
-- Requests

-- Where a request's arguments stand, for messages: http.request(opts) has the URL and
-- the options in #1; http.get(url, opts) has them in #1 and #2.
local function site(fname, url_arg, opts_arg)
  return { fname = fname, url = url_arg, opts = opts_arg }
end

local function normalize_retry(retry, at)
  if retry == nil or retry == true then return defaults.retry end
  if retry == false then return false end
  if type(retry) ~= "table" then argerror(at.opts, at.fname, "retry must be false or a table, got " .. type(retry)) end
  local r = {}
  for k, v in pairs(defaults.retry) do r[k] = v end
  for k, v in pairs(retry) do
    if k == "backoff" or k == "max_backoff" then v = check.duration(v, at.opts, at.fname, "retry." .. k)
    elseif k == "attempts" then v = check.count(v, at.opts, at.fname, "retry.attempts")
    elseif k == "statuses" then
      if type(v) ~= "table" then argerror(at.opts, at.fname, "retry.statuses must be a list of status codes") end
      for _, code in ipairs(v) do check.count(code, at.opts, at.fname, "retry.statuses", 100) end
    elseif k ~= "idempotent" then
      argerror(at.opts, at.fname, "unknown retry option '" .. tostring(k) .. "'")
    end
    r[k] = v
  end
  return r
end

local redact_url = require("evalua.redact").redact_url

-- URLs already found good: pollers send the same URL again and again.
local good_urls, ngood = {}, 0

local function check_url(url, at)
  if good_urls[url] then return end
  if type(url) ~= "string" then argerror(at.url, at.fname, "url must be a string, got " .. type(url)) end
  local scheme, host = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  local shown = (not scheme or host == "") and redact_url(url) or nil
  if not scheme then argerror(at.url, at.fname, ("malformed URL %q (expected http://host/...)"):format(shown)) end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    argerror(at.url, at.fname, ("unsupported URL scheme %q in %q (use http or https)"):format(scheme, redact_url(url)))
  end
  if host == "" or host:find("%s") then
    argerror(at.url, at.fname, ("malformed URL %q (no host)"):format(redact_url(url)))
  end
  local ok, why = transfer.url_check(url)
  if not ok then argerror(at.url, at.fname, ("malformed URL %q (%s)"):format(redact_url(url), why)) end
  if ngood >= 4096 then good_urls, ngood = {}, 0 end
  good_urls[url], ngood = true, ngood + 1
end

-- A JSON body that cannot be encoded is the caller's mistake: blame their line.
local function encode_body(value)
  local ok, body = pcall(json.encode, value, { sort_keys = true })   -- same table, same bytes
  if not ok then error(errors.where() .. tostring(body):gsub("^[^\n]-:%d+: ", ""), 0) end
  return body
end

-- A duration that must be more than zero (0 would mean "no limit" to libcurl).
local function positive(v, at, what)
  local secs = check.duration(v, at.opts, at.fname, what)
  if secs <= 0 then argerror(at.opts, at.fname, what .. " must be greater than 0") end
  return secs
end

-- Build the spec transfer.send takes; header names are sent lowercase.
local function prepare(opts, at)
  local function bad(msg) argerror(at.opts, at.fname, msg) end
  for k in pairs(opts) do
    if not known_options[k] then bad("unknown option '" .. tostring(k) .. "'") end
  end
  local method = (opts.method or "GET")
  if type(method) ~= "string" or not methods[method:upper()] then bad("unknown method " .. tostring(method)) end
  method = method:upper()
  check_url(opts.url, at)
  local url = opts.url
  if opts.query ~= nil then
    if type(opts.query) ~= "table" then bad("query must be a table") end
    local q = encode_pairs(opts.query)
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  end
  local headers = {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then bad("headers must be a table") end
    for k, v in pairs(opts.headers) do
      if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
        bad("headers must map names to strings")
      end
      headers[k:lower()] = tostring(v)
    end
  end
  local nbodies = (opts.body ~= nil and 1 or 0) + (opts.json ~= nil and 1 or 0) + (opts.form ~= nil and 1 or 0)
  if nbodies > 1 then bad("give only one of body, json and form") end
  local body = opts.body
  if body ~= nil and type(body) ~= "string" then bad("body must be a string") end
  if opts.json ~= nil then
    body = encode_body(opts.json)
    headers["content-type"] = headers["content-type"] or "application/json"
  elseif opts.form ~= nil then
    if type(opts.form) ~= "table" then bad("form must be a table") end
    body = encode_pairs(opts.form)
    headers["content-type"] = headers["content-type"] or "application/x-www-form-urlencoded"
  end
  if headers["accept"] == nil then headers["accept"] = "application/json" end
  if opts.decode ~= nil and opts.decode ~= "json" then bad("decode must be \"json\", got " .. tostring(opts.decode)) end
  return {
    method = method, url = url, headers = headers, body = body,
    timeout = opts.timeout ~= nil and positive(opts.timeout, at, "timeout") or defaults.timeout,
    connect_timeout = opts.connect_timeout ~= nil
      and positive(opts.connect_timeout, at, "connect_timeout") or defaults.connect_timeout,
    deadline = opts.deadline ~= nil and positive(opts.deadline, at, "deadline") or defaults.deadline,
    same_origin = opts.same_origin == true or nil,
    compressed = opts.compressed == nil and defaults.compressed or opts.compressed == true,
    max_body = opts.max_body ~= nil and check.count(opts.max_body, at.opts, at.fname, "max_body") or defaults.max_body,
    insecure = opts.insecure == true or defaults.insecure,
    retry = normalize_retry(opts.retry, at),
    decode = opts.decode,
  }
end

local function header_list(headers)
  local list = {}
  for k, v in pairs(headers) do list[#list + 1] = k .. ": " .. v end
  table.sort(list)
  return list
end

local insecure_warned = false

local function warn_insecure(insecure)
  if insecure and not insecure_warned then
    insecure_warned = true
    io.stderr:write("evalua: warning: TLS certificate verification is OFF (insecure)\n")
  end
end

local function send(spec)
  warn_insecure(spec.insecure)
  -- The C side takes "name: value" lines; the map stays for a replay after a 401.
  local headers = spec.headers
  spec.headers = header_list(headers)
  local ok, res = transfer.send(spec)
  spec.headers = headers
  if not ok then
    errors.raise(res, 4)
  end
  return res
end

local function deadline_error(spec, secs)
  errors.raise({ kind = "timeout", method = spec.method, url = redact_url(spec.url),
                 message = ("deadline of %s exceeded (every attempt and wait included)"):format(task.format_seconds(secs)) }, 4)
end

local function authorized(spec, auth, at)
  if auth == nil then return send(spec) end
  if type(auth) ~= "table" or type(auth.apply) ~= "function" then
    argerror(at.opts, at.fname, "auth must be an auth provider (auth.api_key, auth.bearer, auth.client_credentials)")
  end
  auth:apply(spec)
  local res = send(spec)
  -- An expired token: refresh it once and replay the request once.
  if res.status == 401 and auth.refresh and auth:refresh(res, spec) then
    auth:apply(spec)
    res = send(spec)
  end
  return res
end

local function request(opts, at)
  local spec = prepare(opts, at)
  local auth = opts.auth
  local secs = spec.deadline
  spec.deadline = nil
  if not secs then return authorized(spec, auth, at) end
  local r, expired = task._with_deadline(secs, authorized, spec, auth, at)
  if expired then deadline_error(spec, secs) end
  if not r[1] then error(r[2], 0) end
  return r[2]
end

-- Authorized GETs without other options (a provider's polls: method, url, auth and
-- timeout) are sent from a template per auth provider, method and timeout that carries
-- the accept header and the provider's own (its stamp, auth.lua): the template is made
-- again only when the stamp changes (a new token) or the defaults do. The stamp's hold
-- lives in the template, which every request made from it keeps: a replaced token stays
-- redacted while any of them lives. Not used while a default deadline is set.
local PLAIN = { method = true, url = true, auth = true, timeout = true }
local auth_templates = setmetatable({}, { __mode = "k" })   -- auth -> method -> timeout -> entry
local DEFAULT_TIMEOUT = {}

local function plain_authorized(opts)
  local auth, method = opts.auth, opts.method
  if defaults.deadline ~= nil or type(auth) ~= "table" or type(auth.stamp) ~= "function"
    or (method ~= nil and method ~= "GET") then
    return false
  end
  for k in next, opts do
    if not PLAIN[k] then return false end
  end
  return true
end

local function auth_template(auth, method, timeout, at)
  local per = auth_templates[auth]
  if not per then
    per = {}
    auth_templates[auth] = per
  end
  local by_timeout = per[method]
  local tkey = timeout == nil and DEFAULT_TIMEOUT or timeout
  local e = by_timeout and by_timeout[tkey]
  -- A few timeouts per provider are kept (a script computing one per call would add a
  -- template each time): past 8 the set starts again.
  if not e and (not by_timeout or by_timeout.n == 8) then
    by_timeout = { n = 0 }
    per[method] = by_timeout
  end
  -- The timeout is checked before the stamp, which may fetch a token.
  local secs = e and e.secs or (timeout ~= nil and positive(timeout, at, "timeout") or defaults.timeout)
  local stamp = auth:stamp(e and e.stamp)
  if e and e.stamp == stamp then return e end
  local headers = { accept = "application/json" }
  for k, v in pairs(stamp.headers) do headers[k] = v end
  e = { secs = secs, stamp = stamp, template = transfer.prepare {
    method = method, headers = header_list(headers), timeout = secs,
    connect_timeout = defaults.connect_timeout, max_body = defaults.max_body, insecure = defaults.insecure,
    retry = defaults.retry, compressed = defaults.compressed, hold = stamp.hold,
  } }
  if not by_timeout[tkey] then by_timeout.n = by_timeout.n + 1 end
  by_timeout[tkey] = e
  return e
end

local function send_template(template, url)
  local ok, res = transfer.send(template, url)
  if not ok then errors.raise(res, 3) end
  return res
end

-- What authorized() does for such a request, the 401 refresh and single replay included.
local function templated(opts, at)
  local url, auth, timeout = opts.url, opts.auth, opts.timeout
  if not good_urls[url] then check_url(url, at) end
  warn_insecure(defaults.insecure)
  local e = auth_template(auth, "GET", timeout, at)
  local res = send_template(e.template, url)
  if res.status == 401 and auth.refresh and auth:refresh(res, e.stamp) then
    res = send_template(auth_template(auth, "GET", timeout, at).template, url)
  end
  return res
end

local REQUEST_SITE = site("request", 1, 1)

--- http.request(opts) -> response
function http.request(opts)
  if type(opts) ~= "table" then argerror(1, "request", "table expected, got " .. type(opts)) end
  if opts.auth ~= nil and plain_authorized(opts) then return templated(opts, REQUEST_SITE) end
  return request(opts, REQUEST_SITE)
end

-- Requests without options are sent from a template per method (transfer.prepare reads
-- the spec once; only the URL differs between requests). Rebuilt when the defaults
-- change; not used while a default deadline is set (that needs a scope).
local templates = {}

local function template(method)
  local t = templates[method]
  if t then return t end
  t = transfer.prepare {
    method = method, headers = { "accept: application/json" }, timeout = defaults.timeout,
    connect_timeout = defaults.connect_timeout, max_body = defaults.max_body, insecure = defaults.insecure,
    retry = defaults.retry, compressed = defaults.compressed,
  }
  templates[method] = t
  return t
end

-- The fast path of http.get(url) and friends: what request() does for no options.
local function plain(method, url, at)
  if not good_urls[url] then check_url(url, at) end
  warn_insecure(defaults.insecure)
  return send_template(templates[method] or template(method), url)
end

local function shorthand(method)
  local fname = method:lower()
  local at = site(fname, 1, 2)
  return function(url, opts)
    if type(url) ~= "string" then argerror(1, fname, "string expected, got " .. type(url)) end
    if opts == nil and defaults.deadline == nil then return plain(method, url, at) end
    if opts ~= nil and type(opts) ~= "table" then argerror(2, fname, "table expected, got " .. type(opts)) end
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.method, o.url = method, url
    return request(o, at)
  end
end

http.get = shorthand("GET")
http.head = shorthand("HEAD")
http.post = shorthand("POST")
http.put = shorthand("PUT")
http.patch = shorthand("PATCH")
http.delete = shorthand("DELETE")

--- http.configure{retry, timeout, connect_timeout, deadline, compressed, max_body, max_host_connections,
--- user_agent, insecure}
function http.configure(opts)
  if type(opts) ~= "table" then argerror(1, "configure", "table expected, got " .. type(opts)) end
  local at = site("configure", 1, 1)
  templates, auth_templates = {}, setmetatable({}, { __mode = "k" })
  for k, v in pairs(opts) do
    if k == "timeout" or k == "connect_timeout" or k == "deadline" then defaults[k] = positive(v, at, k)
    elseif k == "max_body" then defaults.max_body = check.count(v, 1, "configure", "max_body")
    elseif k == "retry" then defaults.retry = normalize_retry(v, at) or { attempts = 1 }
    elseif k == "insecure" then defaults.insecure = v == true
    elseif k == "compressed" then defaults.compressed = v == true
    elseif k == "max_host_connections" then
      local n = check.count(v, 1, "configure", "max_host_connections")
      if n > 10000 then argerror(1, "configure", "max_host_connections must be at most 10000, got " .. tostring(v)) end
      transfer.configure { max_host_connections = n }
    elseif k == "user_agent" then
      if type(v) ~= "string" then argerror(1, "configure", "user_agent must be a string") end
      transfer.configure { user_agent = v }
    else argerror(1, "configure", "unknown option '" .. tostring(k) .. "'") end
  end
end

http.defaults = defaults
return http
