/*
 * http_lua.c -- the module evalua.transfer, the Lua side of a transfer: send reads a request spec into a
 * Request userdata, starts it, and waits; the continuation turns the outcome into the
 * values lua/evalua/http.lua wraps. The Request is a userdata created before anything
 * that could fail (as liolib.c's newprefile), so an error on any path frees it through
 * __gc, and a wait that ends otherwise (cancellation, deadline) withdraws the transfer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "evalua.h"

#define REQUEST_MT "evalua.request"

/* The headers of a request without options ("accept: application/json"), built once:
 * a spec says `headers = transfer.DEFAULT_HEADERS` to use them. */
static struct curl_slist *default_headers;
static char default_headers_key;

static int request_gc(lua_State *L) {
  Request *r = luaL_checkudata(L, 1, REQUEST_MT);
  transfer_release(r);
  return 0;
}

static int request_tostring(lua_State *L) {
  Request *r = luaL_checkudata(L, 1, REQUEST_MT);
  static const char *const states[] = {"new", "queued", "active", "waiting to retry", "done", "cancelled"};
  char *url = r->url ? redact_url(r->url) : NULL;
  lua_pushfstring(L, "evalua.request (%s %s, %s)", r->method ? r->method : "?", url ? url : "?", states[r->state]);
  free(url);
  return 1;
}


void http_shutdown(void) {
  curl_slist_free_all(default_headers);
  default_headers = NULL;
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
  if (lua_touserdata(L, -1) == &default_headers_key) {
    if (default_headers == NULL) default_headers = curl_slist_append(NULL, "accept: application/json");
    if (default_headers == NULL) luaL_error(L, "out of memory");
    r->headers = default_headers;
    r->shared_headers = 1;
  } else if (lua_istable(L, -1)) {
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

static void read_spec(lua_State *L, Request *r) {
  size_t body_len = 0;
  const char *body;
  r->method = field_strdup(L, 1, "method", 1);
  r->url = field_strdup(L, 1, "url", 1);
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
    if (r->shared_headers) {
      r->headers = curl_slist_append(NULL, "accept: application/json");
      r->shared_headers = 0;
      if (r->headers == NULL) luaL_error(L, "out of memory");
    }
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

static void set_url(lua_State *L, const char *k, const char *url) {
  char *safe = redact_url(url);
  lua_pushstring(L, safe ? safe : "");
  lua_setfield(L, -2, k);
  free(safe);
}

static void push_error(lua_State *L, Request *r) {
  const char *msg = r->message ? r->message : (r->errbuf[0] ? r->errbuf : curl_easy_strerror((CURLcode)r->code));
  char *safe = redact_dup(msg, strlen(msg), NULL);
  lua_pushboolean(L, 0);
  lua_createtable(L, 0, 10);
  set_str(L, "kind", r->kind ? r->kind : "protocol");
  set_str(L, "message", safe ? safe : "");
  free(safe);
  set_url(L, "url", r->url);
  set_str(L, "method", r->method);
  set_int(L, "code", r->code);
  if (r->status) set_int(L, "status", r->status);
  lua_pushboolean(L, r->retryable);
  lua_setfield(L, -2, "retryable");
  set_int(L, "attempts", r->attempt);
  lua_pushnumber(L, clock_now() - r->started);
  lua_setfield(L, -2, "elapsed");
  if (r->deadline_hit) {
    lua_pushnumber(L, r->deadline);
    lua_setfield(L, -2, "deadline");
  }
}

static void push_response(lua_State *L, Request *r) {
  lua_pushboolean(L, 1);
  lua_createtable(L, 0, 6);
  set_int(L, "status", r->status);
  lua_pushlstring(L, r->resp_body.data ? r->resp_body.data : "", r->resp_body.len);
  lua_setfield(L, -2, "body");
  lua_pushlstring(L, r->resp_head.data ? r->resp_head.data : "", r->resp_head.len);
  lua_setfield(L, -2, "raw_headers");
  set_url(L, "url", r->url);
  lua_pushnumber(L, clock_now() - r->started);
  lua_setfield(L, -2, "elapsed");
  set_int(L, "attempts", r->attempt);
  if (r->redirects) set_int(L, "redirects", r->redirects);
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
  if (r->failed) push_error(L, r);
  else push_response(L, r);
  transfer_release(r);                  /* the Lua values are the only copy now */
  return 2;
}

/* transfer.send{method, url, headers = {"name: value", ...}, body, timeout,
 *   connect_timeout, max_body, insecure, same_origin, compressed, retry = false | {...}}
 *   -> true, response | false, error fields
 * Waits in the current task; the task's deadline bounds every attempt and retry. */
static int l_send(lua_State *L) {
  Request *r;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  sched_check_wait(L);                   /* nothing is sent that cannot be awaited */
  r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  transfer_init_request(r);
  luaL_setmetatable(L, REQUEST_MT);
  read_spec(L, r);
  r->deadline = sched_deadline(sched_current());
  r->task = sched_current();
  transfer_start(r);
  return sched_wait(L, &http_ops, r, HUGE_VAL, 2, send_k);
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
    {"send", l_send}, {"configure", l_configure}, {"url_check", l_url_check},
    {"set_verbose", l_set_verbose}, {NULL, NULL},
  };
  luaL_newmetatable(L, REQUEST_MT);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lua_pushlightuserdata(L, &default_headers_key);
  lua_setfield(L, -2, "DEFAULT_HEADERS");
  return 1;
}
