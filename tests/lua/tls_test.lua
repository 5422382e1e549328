-- TLS: a self-signed certificate is refused unless the user opts out (with a warning),
-- no environment variable switches verification off, and HTTP/2 is used when offered.
-- The server is Debian's nginx on 127.0.0.1 with a certificate made for this test.
local t = require "tap"
local shell = require "shell"

local sh = shell.sh

local dir = sh("mktemp -d"):gsub("%s+$", "")
local nginx = io.popen("command -v nginx || ls /usr/sbin/nginx 2>/dev/null"):read("l")
if not nginx then
  t.ok(false, "nginx is installed (scripts/install-deps check)")
  t.done()
end

local _, code = sh(("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 " ..
  "-keyout %s/key.pem -out %s/cert.pem"):format(dir, dir))
t.is(code, 0, "self-signed certificate generated")

-- A port the kernel says is free (another suite may run beside this one).
local port = tonumber(sh([[python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']]):match("%d+"))
local conf = ([[
daemon on;
pid %s/nginx.pid;
error_log %s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate %s/cert.pem;
    ssl_certificate_key %s/key.pem;
    location / { default_type application/json; return 200 '{"tls":true}'; }
    location /down { return 302 http://127.0.0.1:%d/plain; }
  }
}
]]):format(dir, dir, dir, dir, dir, dir, dir, port, dir, dir, port + 1)
local f = assert(io.open(dir .. "/nginx.conf", "w"))
f:write(conf)
f:close()
local out
out, code = sh(nginx .. " -c " .. dir .. "/nginx.conf -p " .. dir)
t.is(code, 0, "nginx started: " .. out)
task.sleep(0.3)

local url = ("https://127.0.0.1:%d/"):format(port)
local ok, err = pcall(http.get, url, { retry = false })
t.ok(not ok and err.kind == "tls", "self-signed certificate: tls error")
t.like(tostring(err), "certificate", "the error says it is about the certificate")
t.is(err.url, url, "the error names the URL")

local env_tries = "CURL_INSECURE=1 EVALUA_INSECURE=1 NODE_TLS_REJECT_UNAUTHORIZED=0 PYTHONHTTPSVERIFY=0 GIT_SSL_NO_VERIFY=1"
out, code = sh(env_tries .. " bin/evalua -e 'http.get(\"" .. url .. "\", {retry = false})'")
t.ok(code == 4 and out:find("tls error"), "no environment variable switches verification off")

out, code = sh("bin/evalua -e 'print(http.get(\"" .. url .. "\", {insecure = true}):json().tls)'")
t.ok(code == 0 and out:find("true"), "insecure = true connects")
t.like(out, "warning: TLS certificate verification is OFF", "and prints a warning")
out, code = sh("bin/evalua --insecure -e 'print(http.get(\"" .. url .. "\").status)'")
t.ok(code == 0 and out:find("200") and out:find("warning"), "--insecure connects, with the warning")

out = sh("bin/evalua -v --insecure -e 'http.get(\"" .. url .. "\")'")
t.like(out, "< HTTP/2 200", "HTTP/2 is used when the server offers it")

-- A redirect from https to http is never followed: the credentials would travel in clear.
out, code = sh("bin/evalua --insecure -e 'http.get(\"" .. url .. "down\", {headers = {[\"x-api-key\"] = \"k\"}})'")
t.ok(code == 4 and out:find("downgrade from https to http"), "a redirect from https to http is refused")

sh("kill $(cat " .. dir .. "/nginx.pid)")
sh("rm -rf " .. dir)
t.done()
