/*
 * http_lua.c -- the module evalua.transfer, the Lua side of a transfer: send reads a request spec into a
 * Request userdata, starts it, and waits; the continuation turns the outcome into the
 * values lua/evalua/http.lua wraps. The Request is a userdata created before anything
 * that could fail (as liolib.c's newprefile), so an error on any path frees it through
 * __gc, and a wait that ends otherwise (cancellation, deadline) withdraws the transfer.
 *
 * A spec that is sent again and again (http.get(url) without options) is read once into
 * a template (transfer.prepare) and each send copies it. A response is a small table
 * (status, method) that keeps its Request: the body, headers, URL and timings become Lua
 * values only when read (the response metatable's __index, here), and :json() decodes
 * straight from the body buffer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "evalua.h"

#define REQUEST_MT "evalua.request"
/* Bodies up to this size stay in their C buffer until read (polls: most never are). */
#define LAZY_BODY_MAX 2048
#define TEMPLATE_MT "evalua.request_template"

/* Registry key of the response metatable (transfer.set_response_metatable), and the
 * key under which a response keeps its Request. */
static char response_mt_key, request_key;

static int request_gc(lua_State *L) {
  Request *r = lua_touserdata(L, 1);
  transfer_release(r);
  return 0;
}

static int request_tostring(lua_State *L) {
  Request *r = lua_touserdata(L, 1);
  static const char *const states[] = {"new", "queued", "active", "waiting to retry", "done", "cancelled"};
  char *url = r->url ? redact_url(r->url) : NULL;
  lua_pushfstring(L, "evalua.request (%s %s, %s)", r->method ? r->method : "?", url ? url : "?", states[r->state]);
  free(url);
  return 1;
}

/* ---- reading the spec (any of it may raise: the userdata frees what was filled) ---- */

static char *field_strdup(lua_State *L, int idx, const char *key, int required) {
  const char *s;
  char *copy;
  lua_getfield(L, idx, key);
  s = lua_tostring(L, -1);
  if (s == NULL && required) luaL_error(L, "http_send: field '%s' missing", key);
  copy = s ? strdup(s) : NULL;
  if (s && copy == NULL) luaL_error(L, "out of memory");
  lua_pop(L, 1);
  return copy;
}

static double field_num(lua_State *L, int idx, const char *key, double def) {
  double v;
  lua_getfield(L, idx, key);
  v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
  lua_pop(L, 1);
  return v == v ? v : def;
}

static void read_retry(lua_State *L, int idx, RetryPolicy *p) {
  retry_policy_default(p);
  lua_getfield(L, idx, "retry");
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    p->attempts = (int)fmin(fmax(field_num(L, t, "attempts", p->attempts), 1), 100);
    p->backoff = fmin(fmax(field_num(L, t, "backoff", p->backoff), 0), 86400);
    p->max_backoff = fmin(fmax(field_num(L, t, "max_backoff", p->max_backoff), 0), 86400);
    lua_getfield(L, t, "idempotent");
    if (!lua_isnil(L, -1)) p->idempotent = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, t, "statuses");
    if (lua_istable(L, -1)) {
      int n = (int)luaL_len(L, -1);
      p->nstatuses = 0;
      for (int i = 1; i <= n && p->nstatuses < 16; i++) {
        lua_geti(L, -1, i);
        p->statuses[p->nstatuses++] = (int)fmin(fmax(lua_tonumber(L, -1), 0), 999);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  } else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
    p->attempts = 1;
  }
  lua_pop(L, 1);
}

static void read_headers(lua_State *L, int idx, Request *r) {
  lua_getfield(L, idx, "headers");
  if (lua_istable(L, -1)) {
    int n = (int)luaL_len(L, -1);
    for (int i = 1; i <= n; i++) {
      lua_geti(L, -1, i);
      if (lua_isstring(L, -1)) {
        struct curl_slist *grown = curl_slist_append(r->headers, lua_tostring(L, -1));
        if (grown == NULL) luaL_error(L, "out of memory");
        r->headers = grown;
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* The spec at index 1; a template has no url. */
static void read_spec(lua_State *L, Request *r, int need_url) {
  size_t body_len = 0;
  const char *body;
  r->method = field_strdup(L, 1, "method", 1);
  r->url = field_strdup(L, 1, "url", need_url);
  lua_getfield(L, 1, "body");
  body = lua_tolstring(L, -1, &body_len);
  if (body) {
    r->body = malloc(body_len + 1);
    if (r->body == NULL) luaL_error(L, "out of memory");
    memcpy(r->body, body, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
  }
  lua_pop(L, 1);
  read_retry(L, 1, &r->retry);
  read_headers(L, 1, r);
  /* Large bodies would wait a second for "100 Continue" first: skip that round trip. */
  if (r->body_len > 1024) {
    struct curl_slist *grown = curl_slist_append(r->headers, "Expect:");
    if (grown == NULL) luaL_error(L, "out of memory");
    r->headers = grown;
  }
  r->max_body = (size_t)fmin(fmax(field_num(L, 1, "max_body", 64.0 * 1024 * 1024), 0), 1e15);
  r->timeout = field_num(L, 1, "timeout", 30);
  r->connect_timeout = field_num(L, 1, "connect_timeout", 10);
  lua_getfield(L, 1, "insecure");
  r->insecure = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "same_origin");
  r->same_origin_only = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "compressed");
  r->compressed = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "decode");
  r->decode_json = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "json") == 0;
  lua_pop(L, 1);
}

/* ---- the outcome ---- */

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void push_error(lua_State *L, Request *r) {
  const char *msg = r->message ? r->message : curl_easy_strerror((CURLcode)r->code);
  char *safe = redact_dup(msg, strlen(msg), NULL), *url = redact_url(r->url);
  lua_pushboolean(L, 0);
  lua_createtable(L, 0, 10);
  set_str(L, "kind", r->kind ? r->kind : "protocol");
  set_str(L, "message", safe ? safe : "");
  set_str(L, "url", url ? url : "");
  free(safe);
  free(url);
  set_str(L, "method", r->method);
  set_int(L, "code", r->code);
  if (r->status) set_int(L, "status", r->status);
  lua_pushboolean(L, r->retryable);
  lua_setfield(L, -2, "retryable");
  set_int(L, "attempts", r->attempt);
  lua_pushnumber(L, r->elapsed);
  lua_setfield(L, -2, "elapsed");
  if (r->deadline_hit) {
    lua_pushnumber(L, r->deadline);
    lua_setfield(L, -2, "deadline");
  }
}

/* The response: {status, method = the spec's or template's (a redirect may have changed
 * the Request's), [request_key] = the Request}; the rest is read from the Request when
 * asked for (response_index). */
static void push_response(lua_State *L, int spec, int req) {
  Request *r = lua_touserdata(L, req);
  lua_pushboolean(L, 1);
  lua_createtable(L, 0, 4);             /* one slot to spare: :json() caches its value */
  set_int(L, "status", r->status);
  if (lua_type(L, spec) == LUA_TTABLE) lua_getfield(L, spec, "method");
  else lua_pushstring(L, ((Request *)lua_touserdata(L, spec))->method);
  lua_setfield(L, -2, "method");
  lua_pushvalue(L, req);
  lua_rawsetp(L, -2, &request_key);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &response_mt_key) == LUA_TTABLE) lua_setmetatable(L, -2);
  else lua_pop(L, 1);
}

/* ---- responses: fields made on first use ---- */

static Request *response_request(lua_State *L, int idx) {
  Request *r;
  lua_rawgetp(L, idx, &request_key);
  r = luaL_testudata(L, -1, REQUEST_MT);
  lua_pop(L, 1);                        /* the response table keeps it alive */
  if (r == NULL) luaL_argerror(L, idx, "not an HTTP response");
  return r;
}

/* Push the value of a lazily made field; 0 when key is not one. */
static int push_field(lua_State *L, Request *r, const char *key) {
  if (strcmp(key, "body") == 0) {
    if (r->streaming)
      luaL_error(L, "the body of this response was decoded as it arrived (decode = \"json\") and not kept: "
                 "use res:json(), or leave decode out to keep the body");
    lua_pushlstring(L, r->resp_body.data ? r->resp_body.data : "", r->resp_body.len);
    buf_free(&r->resp_body);            /* the string is the only copy from now on */
  } else if (strcmp(key, "headers") == 0) {
    http_push_headers(L, r->resp_head.data ? r->resp_head.data : "", r->resp_head.len);
  } else if (strcmp(key, "raw_headers") == 0) {
    lua_pushlstring(L, r->resp_head.data ? r->resp_head.data : "", r->resp_head.len);
  } else if (strcmp(key, "url") == 0) {
    char *safe = redact_url(r->url);
    lua_pushstring(L, safe ? safe : "");
    free(safe);
  } else if (strcmp(key, "elapsed") == 0) {
    lua_pushnumber(L, r->elapsed);
  } else if (strcmp(key, "attempts") == 0) {
    lua_pushinteger(L, r->attempt);
  } else if (strcmp(key, "redirects") == 0) {
    if (r->redirects == 0) return 0;
    lua_pushinteger(L, r->redirects);
  } else {
    return 0;
  }
  return 1;
}

/* __index of responses (upvalue 1: the metatable, holding the methods): a method, or a
 * field made from the Request and then kept in the table. */
static int response_index(lua_State *L) {
  const char *key;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  key = lua_tostring(L, 2);
  if (!push_field(L, response_request(L, 1), key)) return 0;
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

/* transfer.body_head(response) -> the body's size in bytes, and its first bytes (up to
 * 64): what messages quote, whether or not the body was kept. */
static int l_body_head(lua_State *L) {
  Request *r;
  luaL_checktype(L, 1, LUA_TTABLE);
  r = response_request(L, 1);
  lua_pushinteger(L, (lua_Integer)r->received);
  lua_pushlstring(L, r->head, r->received < sizeof r->head ? r->received : sizeof r->head);
  return 2;
}

/* Push the decoded body of the response at idx: 1 with the value, or 0 with the error
 * message -- the body decoded as it arrived, or from the string when it was made
 * already, else straight from the body buffer. */
static int push_json(lua_State *L, int idx) {
  Request *r = response_request(L, idx);
  size_t len;
  const char *text;
  if (r->streaming) {
    json_stream_push_result(L, r->sink);
    return json_stream_status(r->sink) == 1;
  }
  lua_pushliteral(L, "body");
  if (lua_rawget(L, idx) == LUA_TSTRING) text = lua_tolstring(L, -1, &len);
  else text = r->resp_body.data ? r->resp_body.data : "", len = r->resp_body.len;
  lua_pop(L, 1);                        /* a body string stays referenced by the response */
  return json_decode_buffer(L, text, len);
}

/* response:json() -> the decoded body, cached; when it is not JSON, upvalue 1 (http.lua's)
 * raises the error with the response and the decoder's message. */
static int response_json(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushliteral(L, "_json");
  if (lua_rawget(L, 1) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  if (!push_json(L, 1)) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, -2);
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    lua_call(L, 2, 0);
    return luaL_error(L, "response:json(): the error handler returned");
  }
  lua_pushliteral(L, "_json");
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

/* transfer.set_response_metatable(mt, not_json): responses get mt, whose __index becomes
 * the lazy fields' (mt's own keys are the methods) and whose json method is
 * response_json, raising through not_json(response, message). */
static int l_set_response_metatable(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, response_index, 1);
  lua_setfield(L, 1, "__index");
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, response_json, 1);
  lua_setfield(L, 1, "json");
  lua_pushvalue(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &response_mt_key);
  return 0;
}

/* ---- the wait ---- */

static void http_cleanup(Task *t, void *data) {
  Request *r = data;
  (void)t;
  transfer_cancel(r);
}

static const WaitOps http_ops = {"http", http_cleanup};

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  Request *r = lua_touserdata(L, (int)ctx);
  (void)status;
  if (sched_end_wait(L) != WAKE_EVENT || r->state != REQ_DONE)
    return luaL_error(L, "evalua: internal error: request woken in state %d", r->state);
  r->elapsed = clock_now() - r->started;
  if (r->failed) {
    push_error(L, r);
    transfer_release(r);
    return 2;
  }
  transfer_trim(r);                     /* the response keeps only what it reads */
  if (r->streaming == 1) json_stream_consume(L, r->sink, &r->resp_body, 1);
  if (r->streaming) buf_free(&r->resp_body);
  push_response(L, 1, (int)ctx);
  /* A large body becomes its Lua string now: memory the collector sees and paces itself
   * by. (A response left unread would otherwise hold malloc'd bytes that Lua's GC, which
   * counts only its own heap, knows nothing of.) Small ones stay lazy. */
  if (r->resp_body.len > LAZY_BODY_MAX) {
    push_field(L, r, "body");
    lua_setfield(L, -2, "body");
  }
  if (r->streaming && json_stream_status(r->sink) == 1) {
    json_stream_push_result(L, r->sink);
    lua_setfield(L, -2, "_json");       /* what res:json() returns */
  }
  return 2;
}

/* The body sink of a request with decode = "json" (transfer.c calls these). */
static void body_feed(Request *r) {
  if (json_stream_consume(NULL, r->sink, &r->resp_body, 0) < 0) {
    r->streaming = 2;                   /* the rest is counted, not kept */
    buf_free(&r->resp_body);
  }
}

static void body_reset(Request *r) {
  json_stream_reset(r->sink);
}

/* A request made from a template (index 1) for url: the options are copied, the
 * headers shared (the template is kept alive as the request's user value). */
static void from_template(lua_State *L, Request *r, const char *url) {
  const Request *t = luaL_checkudata(L, 1, TEMPLATE_MT);
  r->retry = t->retry;
  r->max_body = t->max_body;
  r->timeout = t->timeout;
  r->connect_timeout = t->connect_timeout;
  r->insecure = t->insecure;
  r->same_origin_only = t->same_origin_only;
  r->compressed = t->compressed;
  r->decode_json = t->decode_json;
  r->headers = t->headers;
  r->shared_headers = 1;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3, 1);
  if ((r->method = strdup(t->method)) == NULL || (r->url = strdup(url)) == NULL) luaL_error(L, "out of memory");
  if (t->body) {
    if ((r->body = malloc(t->body_len + 1)) == NULL) luaL_error(L, "out of memory");
    memcpy(r->body, t->body, t->body_len + 1);
    r->body_len = t->body_len;
  }
}

/* transfer.send{method, url, headers = {"name: value", ...}, body, timeout,
 *   connect_timeout, max_body, insecure, same_origin, compressed, retry = false | {...}}
 * transfer.send(template, url)
 *   -> true, response | false, error fields
 * Waits in the current task; the task's deadline bounds every attempt and retry. */
static int l_send(lua_State *L) {
  Request *r;
  int templated = lua_type(L, 1) == LUA_TUSERDATA;
  const char *url = templated ? luaL_checkstring(L, 2) : NULL;
  if (!templated) luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  sched_check_wait(L);                   /* nothing is sent that cannot be awaited */
  r = lua_newuserdatauv(L, sizeof *r, 2);
  memset(r, 0, sizeof *r);
  transfer_init_request(r);
  luaL_setmetatable(L, REQUEST_MT);
  if (templated) from_template(L, r, url);
  else read_spec(L, r, 1);
  if (r->decode_json) {
    r->sink = json_stream_new(L);
    lua_setiuservalue(L, 3, 2);
    r->sink_feed = body_feed;
    r->sink_reset = body_reset;
  }
  r->deadline = sched_deadline(sched_current());
  r->task = sched_current();
  transfer_start(r);
  return sched_wait(L, &http_ops, r, HUGE_VAL, 3, send_k);
}

/* transfer.prepare{spec without url, hold = any} -> a template for transfer.send(template,
 * url). The template keeps `hold` (a token's hold: its headers may carry the token), and
 * every request made from it keeps the template, so the hold lives as long as they do. */
static int l_prepare(lua_State *L) {
  Request *t;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  t = lua_newuserdatauv(L, sizeof *t, 1);
  memset(t, 0, sizeof *t);
  transfer_init_request(t);
  luaL_setmetatable(L, TEMPLATE_MT);
  read_spec(L, t, 0);
  lua_getfield(L, 1, "hold");
  lua_setiuservalue(L, 2, 1);
  return 1;
}

/* transfer.configure{max_host_connections = n, user_agent = s} */
static int l_configure(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "max_host_connections");
  if (!lua_isnil(L, -1)) {
    lua_Integer n = luaL_checkinteger(L, -1);
    luaL_argcheck(L, n >= 1 && n <= 10000, 1, "max_host_connections must be from 1 to 10000");
    transfer_set_max_host_connections((long)n);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "user_agent");
  if (lua_isstring(L, -1)) transfer_set_user_agent(lua_tostring(L, -1));
  lua_pop(L, 1);
  return 0;
}

/* transfer.url_check(url) -> true, or nil and why libcurl's own parser refuses it: a URL that
 * passes here is one curl will send, so a bad one is the caller's error, not the network's. */
static int l_url_check(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  CURLU *h = curl_url();
  CURLUcode rc;
  if (h == NULL) return luaL_error(L, "out of memory");
  rc = curl_url_set(h, CURLUPART_URL, url, 0);
  curl_url_cleanup(h);
  if (rc == CURLUE_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, curl_url_strerror(rc));
  return 2;
}

/* transfer.set_verbose(on): the -v trace */
static int l_set_verbose(lua_State *L) {
  trace_on = lua_toboolean(L, 1);
  return 0;
}

int luaopen_evalua_transfer(lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", request_gc}, {"__close", request_gc}, {"__tostring", request_tostring}, {NULL, NULL},
  };
  static const luaL_Reg funcs[] = {
    {"send", l_send}, {"prepare", l_prepare}, {"configure", l_configure}, {"url_check", l_url_check},
    {"set_verbose", l_set_verbose}, {"set_response_metatable", l_set_response_metatable},
    {"body_head", l_body_head}, {NULL, NULL},
  };
  luaL_newmetatable(L, REQUEST_MT);
  luaL_setfuncs(L, meta, 0);
  luaL_newmetatable(L, TEMPLATE_MT);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 2);
  luaL_newlib(L, funcs);
  return 1;
}
