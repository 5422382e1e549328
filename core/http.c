/*
 * http.c -- HTTP transfers on one curl multi handle: connection pool, per-host cap,
 * keep-alive, HTTP/2 multiplexing, retries with backoff, and the verbose trace.
 *
 * A request belongs to the task that sent it. curl callbacks only fill C buffers;
 * when a transfer ends (or its retries run out) the task is woken with
 * (true, response) or (false, error) and Lua builds the rest (lua/evalua/http.lua).
 */
#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>

#include "evalua.h"

typedef struct Buf {
  char *data;
  size_t len, cap;
} Buf;

typedef struct Request {
  CURL *easy;
  Task *task;
  struct curl_slist *headers;
  char *method, *url, *body;
  size_t body_len;
  Buf resp_body, resp_head;
  RetryPolicy retry;
  int attempt;
  int attached;             /* added to the multi handle right now */
  int too_large;
  size_t max_body;
  double started;
  Timer retry_timer;
  struct Request *next_waiting;   /* admission queue */
  int waiting;
  char errbuf[CURL_ERROR_SIZE];
} Request;

static CURLM *multi;
static int active;              /* transfers attached to the multi handle */
/* Transfers beyond the admission limit wait here, not in libcurl: its pending list costs
 * time quadratic in its length, and its timeout clock would count the wait. */
static Request *waiting_head, *waiting_tail;
static int nwaiting;
static int verbose;
static long max_host_connections = 32;
static char user_agent[128] = "evalua/" EVALUA_VERSION;

/* Easy handles are reused: curl_easy_reset keeps their DNS and TLS session caches. */
static CURL *pool[64];
static int pool_len;

static void buf_free(Buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int buf_reserve(Buf *b, size_t extra) {
  size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 256;
  char *grown;
  if (need <= b->cap) return 0;
  while (cap < need) cap *= 2;
  grown = realloc(b->data, cap);
  if (grown == NULL) return -1;
  b->data = grown;
  b->cap = cap;
  return 0;
}

static int buf_append(Buf *b, const char *data, size_t len) {
  if (buf_reserve(b, len) != 0) return -1;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

/* ---- trace ---- */

static const char *const secret_headers[] = {
  "authorization", "proxy-authorization", "x-api-key", "x-secret-key", "cookie", "set-cookie",
};

static int header_is_secret(const char *line) {
  for (size_t i = 0; i < sizeof secret_headers / sizeof secret_headers[0]; i++) {
    size_t n = strlen(secret_headers[i]);
    if (strncasecmp(line, secret_headers[i], n) == 0 && line[n] == ':') return 1;
  }
  return 0;
}

static void trace_line(const char *prefix, const char *text, size_t len) {
  char *safe = redact_dup(text, len, &len);
  fprintf(stderr, "%s%.*s\n", prefix, (int)len, safe);
  free(safe);
}

static void trace_header(const char *prefix, const char *line, size_t len) {
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
  if (len == 0) return;
  if (header_is_secret(line)) {
    const char *colon = memchr(line, ':', len);
    fprintf(stderr, "%s%.*s: ***\n", prefix, (int)(colon - line), line);
    return;
  }
  trace_line(prefix, line, len);
}

static void trace_request(Request *r) {
  char head[64];
  char *url = redact_url(r->url);
  snprintf(head, sizeof head, "> %s ", r->method);
  fprintf(stderr, "%s%s\n", head, url);
  free(url);
  for (struct curl_slist *h = r->headers; h; h = h->next) trace_header("> ", h->data, strlen(h->data));
  if (r->body_len) fprintf(stderr, "> (%zu bytes of body)\n", r->body_len);
}

/* ---- curl callbacks: C buffers only ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  Request *r = ud;
  size_t len = size * n;
  if (r->resp_body.len + len > r->max_body) {
    r->too_large = 1;
    return 0;                           /* makes curl stop with CURLE_WRITE_ERROR */
  }
  return buf_append(&r->resp_body, data, len) == 0 ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  Request *r = ud;
  size_t len = size * n;
  /* A new status line starts a new response (redirect, 100 Continue): keep the last. */
  if (len > 5 && strncmp(data, "HTTP/", 5) == 0) r->resp_head.len = 0;
  if (len == 2 && data[0] == '\r' && r->resp_body.cap == 0) {
    curl_off_t cl = -1;
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    /* Size the body buffer once when the length is known: no doubling overshoot. */
    if (cl > 0 && (size_t)cl <= r->max_body) buf_reserve(&r->resp_body, (size_t)cl);
  }
  if (verbose) trace_header("< ", data, len);
  return buf_append(&r->resp_head, data, len) == 0 ? len : 0;
}

/* The value of a response header (first occurrence) in a raw header block, copied
 * into out; 0 when absent. */
int http_find_header(const char *head, size_t len, const char *name, char *out, size_t outlen) {
  size_t n = strlen(name);
  const char *p = head, *end = head + len;
  if (len == 0) return 0;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t linelen = eol ? (size_t)(eol - p) : (size_t)(end - p);
    if (linelen > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char *v = p + n + 1;
      size_t vlen;
      while (v < p + linelen && isspace((unsigned char)*v)) v++;
      vlen = (size_t)(p + linelen - v);
      while (vlen > 0 && isspace((unsigned char)v[vlen - 1])) vlen--;
      if (vlen >= outlen) vlen = outlen - 1;
      memcpy(out, v, vlen);
      out[vlen] = '\0';
      return 1;
    }
    p = eol ? eol + 1 : NULL;
  }
  return 0;
}

/* ---- request lifecycle ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ud);
static size_t on_header(char *data, size_t size, size_t n, void *ud);

/* Options every request shares, set once per handle: a pooled handle is not reset, so
 * only what differs between requests is set again (setup_easy). */
static CURL *easy_new(void) {
  CURL *e = curl_easy_init();
  if (e == NULL) return NULL;
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  return e;
}

static CURL *easy_get(void) {
  if (pool_len > 0) return pool[--pool_len];
  return easy_new();
}

static void easy_put(CURL *easy) {
  if (pool_len < (int)(sizeof pool / sizeof pool[0])) pool[pool_len++] = easy;
  else curl_easy_cleanup(easy);
}

static void admit_waiting(void);

static void unqueue(Request *r) {
  Request **p = &waiting_head, *prev = NULL;
  while (*p && *p != r) prev = *p, p = &(*p)->next_waiting;
  if (*p == NULL) return;
  *p = r->next_waiting;
  if (waiting_tail == r) waiting_tail = prev;
  r->waiting = 0;
  nwaiting--;
}

static void request_free(Request *r) {
  if (r->waiting) unqueue(r);
  if (r->attached) {
    curl_multi_remove_handle(multi, r->easy);
    active--;
    admit_waiting();
  }
  timer_disarm(&r->retry_timer);
  if (r->easy) easy_put(r->easy);
  curl_slist_free_all(r->headers);
  buf_free(&r->resp_body);
  buf_free(&r->resp_head);
  free(r->method);
  free(r->url);
  free(r->body);
  free(r);
}

void http_cancel(Request *r) {
  if (r->task) sched_set_request(r->task, NULL);
  request_free(r);
}

static void attach(Request *r) {
  r->attempt++;
  r->resp_body.len = 0;
  r->resp_head.len = 0;
  r->too_large = 0;
  r->errbuf[0] = '\0';
  if (verbose) {
    if (r->attempt > 1) fprintf(stderr, "* attempt %d of %d\n", r->attempt, r->retry.attempts);
    trace_request(r);
  }
  if (active >= max_host_connections * 2) {
    r->waiting = 1;
    r->next_waiting = NULL;
    if (waiting_tail) waiting_tail->next_waiting = r;
    else waiting_head = r;
    waiting_tail = r;
    nwaiting++;
    return;
  }
  curl_multi_add_handle(multi, r->easy);
  r->attached = 1;
  active++;
}

static void admit_waiting(void) {
  while (waiting_head && active < max_host_connections * 2) {
    Request *r = waiting_head;
    waiting_head = r->next_waiting;
    if (waiting_head == NULL) waiting_tail = NULL;
    r->waiting = 0;
    nwaiting--;
    curl_multi_add_handle(multi, r->easy);
    r->attached = 1;
    active++;
  }
}

static void retry_fire(Timer *t) {
  Request *r = (Request *)((char *)t - offsetof(Request, retry_timer));
  /* A retry goes out on a new connection: on a reused one that died, libcurl would
   * resend it once more on its own, an attempt nobody counted. */
  curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
  attach(r);
}

static int idempotent(const Request *r) {
  return r->retry.idempotent >= 0 ? r->retry.idempotent : method_is_idempotent(r->method);
}

static double unit_random(void) {
  return (double)rand() / ((double)RAND_MAX + 1.0);
}

/* Schedule another attempt if the policy allows; returns 1 when one was scheduled. */
static int schedule_retry(Request *r, const char *why, double retry_after) {
  double delay;
  if (r->attempt >= r->retry.attempts) return 0;
  delay = retry_backoff(&r->retry, r->attempt + 1, unit_random());
  if (retry_after >= 0) {
    /* The server said when; a wait longer than our cap means give up now. */
    if (retry_after > r->retry.max_backoff * 10 && retry_after > 300) return 0;
    delay = retry_after;
  }
  if (verbose) {
    char *url = redact_url(r->url);
    fprintf(stderr, "* %s %s: %s; retrying in %.2fs (attempt %d of %d)\n",
            r->method, url, why, delay, r->attempt + 1, r->retry.attempts);
    free(url);
  }
  timer_arm(&r->retry_timer, clock_now() + delay);
  return 1;
}

static const char *classify(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
  case CURLE_COULDNT_CONNECT: return "connect";
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS: return "tls";
  default: return "protocol";    /* dropped connections, bad framing, body too large */
  }
}

/* Whether the request might have been processed by the server: some of it was sent.
 * (Connect time says nothing on a reused connection, where it is 0.) */
static int may_have_reached_server(CURLcode rc, const Request *r) {
  long sent = 0;
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY)
    return 0;
  curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
  return sent > 0;
}

static int transient(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM: return 1;
  default: return 0;
  }
}

static void set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void push_url(lua_State *L, const char *url) {
  char *safe = redact_url(url);
  lua_pushstring(L, safe);
  free(safe);
}

static const char *describe(CURLcode rc, const Request *r) {
  if (r->too_large || rc == CURLE_FILESIZE_EXCEEDED) return NULL;
  if (rc == CURLE_TOO_MANY_REDIRECTS) return "too many redirects (a redirect loop?)";
  if (rc == CURLE_GOT_NOTHING) return "the server closed the connection without responding";
  if (rc == CURLE_PARTIAL_FILE) return "the connection closed before the whole body arrived";
  return r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
}

static void deliver_error(Request *r, CURLcode rc, int retryable) {
  lua_State *co = sched_thread(r->task);
  const char *msg = describe(rc, r);
  lua_checkstack(co, 4);
  lua_pushboolean(co, 0);
  lua_createtable(co, 0, 8);
  set_str(co, "kind", classify(rc));
  if (msg) {
    char *safe = redact_dup(msg, strlen(msg), NULL);
    set_str(co, "message", safe);
    free(safe);
  } else {
    lua_pushfstring(co, "response body larger than the limit of %I bytes (max_body)", (lua_Integer)r->max_body);
    lua_setfield(co, -2, "message");
  }
  push_url(co, r->url);
  lua_setfield(co, -2, "url");
  set_str(co, "method", r->method);
  set_int(co, "code", rc);
  lua_pushboolean(co, retryable);
  lua_setfield(co, -2, "retryable");
  set_int(co, "attempts", r->attempt);
  set_num(co, "elapsed", clock_now() - r->started);
}

static void deliver_response(Request *r, long status) {
  lua_State *co = sched_thread(r->task);
  char *effective = NULL;
  lua_checkstack(co, 4);
  lua_pushboolean(co, 1);
  lua_createtable(co, 0, 6);
  set_int(co, "status", status);
  lua_pushlstring(co, r->resp_body.data ? r->resp_body.data : "", r->resp_body.len);
  lua_setfield(co, -2, "body");
  buf_free(&r->resp_body);                /* the Lua string is now the only copy */
  lua_pushlstring(co, r->resp_head.data ? r->resp_head.data : "", r->resp_head.len);
  lua_setfield(co, -2, "raw_headers");
  curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &effective);
  push_url(co, effective ? effective : r->url);
  lua_setfield(co, -2, "url");
  set_num(co, "elapsed", clock_now() - r->started);
  set_int(co, "attempts", r->attempt);
}

static void finish(Request *r) {
  Task *t = r->task;
  sched_set_request(t, NULL);
  r->task = NULL;
  request_free(r);
  sched_wake(t, 2);
}

static void on_done(CURL *easy, CURLcode rc) {
  Request *r = NULL;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
  curl_multi_remove_handle(multi, easy);
  r->attached = 0;
  active--;
  admit_waiting();
  if (rc == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (verbose) {
      char *url = redact_url(r->url);
      fprintf(stderr, "* %s %s -> %ld in %.0f ms (%zu bytes)\n", r->method, url, status,
              (clock_now() - r->started) * 1000, r->resp_body.len);
      free(url);
    }
    /* 429 and 503 mean "not processed, try later": safe for any method. */
    if (retry_status_listed(&r->retry, (int)status) &&
        (status == 429 || status == 503 || idempotent(r))) {
      char value[128], why[64];
      double after = -1;
      if (http_find_header(r->resp_head.data, r->resp_head.len, "retry-after", value, sizeof value))
        after = retry_after_parse(value, (double)time(NULL));
      snprintf(why, sizeof why, "HTTP %ld", status);
      if (schedule_retry(r, why, after)) return;
    }
    deliver_response(r, status);
  } else {
    int retryable = transient(rc) && (!may_have_reached_server(rc, r) || idempotent(r));
    if (verbose) {
      char *url = redact_url(r->url);
      const char *msg = describe(rc, r);
      fprintf(stderr, "* %s %s failed: %s\n", r->method, url, msg ? msg : "response body too large");
      free(url);
    }
    if (retryable && schedule_retry(r, curl_easy_strerror(rc), -1)) return;
    deliver_error(r, rc, transient(rc));
  }
  finish(r);
}

void http_poll(double wait) {
  int running, left;
  CURLMsg *msg;
  curl_multi_poll(multi, NULL, 0, (int)(wait * 1000), NULL);
  curl_multi_perform(multi, &running);
  while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
    if (msg->msg == CURLMSG_DONE) {
      CURL *easy = msg->easy_handle;      /* copy out: msg dies with remove_handle */
      CURLcode rc = msg->data.result;
      on_done(easy, rc);
    }
  }
}

/* ---- Lua entry points ---- */

static char *field_strdup(lua_State *L, int idx, const char *key, int required) {
  const char *s;
  char *copy;
  lua_getfield(L, idx, key);
  s = lua_tostring(L, -1);
  if (s == NULL && required) luaL_error(L, "http_send: field '%s' missing", key);
  copy = s ? strdup(s) : NULL;
  lua_pop(L, 1);
  return copy;
}

static double field_num(lua_State *L, int idx, const char *key, double def) {
  double v;
  lua_getfield(L, idx, key);
  v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
  lua_pop(L, 1);
  return v;
}

static void read_retry(lua_State *L, int idx, RetryPolicy *p) {
  retry_policy_default(p);
  lua_getfield(L, idx, "retry");
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    p->attempts = (int)fmin(fmax(field_num(L, t, "attempts", p->attempts), 1), 100);
    p->backoff = field_num(L, t, "backoff", p->backoff);
    p->max_backoff = field_num(L, t, "max_backoff", p->max_backoff);
    lua_getfield(L, t, "idempotent");
    if (!lua_isnil(L, -1)) p->idempotent = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, t, "statuses");
    if (lua_istable(L, -1)) {
      int n = (int)luaL_len(L, -1);
      p->nstatuses = 0;
      for (int i = 1; i <= n && p->nstatuses < 16; i++) {
        lua_geti(L, -1, i);
        p->statuses[p->nstatuses++] = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  } else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
    p->attempts = 1;
  }
  if (p->attempts < 1) p->attempts = 1;
  lua_pop(L, 1);
}

static void read_headers(lua_State *L, int idx, Request *r) {
  lua_getfield(L, idx, "headers");
  if (lua_istable(L, -1)) {
    int n = (int)luaL_len(L, -1);
    for (int i = 1; i <= n; i++) {
      lua_geti(L, -1, i);
      if (lua_isstring(L, -1)) r->headers = curl_slist_append(r->headers, lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* Seconds as curl's milliseconds, clamped: a cast of an out-of-range double is undefined. */
static long millis(double seconds) {
  if (!(seconds > 0)) return 0;
  return seconds >= 86400.0 * 365 ? 86400L * 365 * 1000 : (long)(seconds * 1000);
}

static void setup_easy(Request *r, double timeout, double connect_timeout, int insecure) {
  CURL *e = r->easy;
  int head = strcmp(r->method, "HEAD") == 0;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, millis(timeout));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, millis(connect_timeout));
  curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, insecure ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, insecure ? 0L : 2L);
  /* The handle may come from the pool with another request's method: set all of it. */
  curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
  if (head) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(r->method, "GET") != 0 || r->body) {
    if (strcmp(r->method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  /* libcurl silently sends a request again when a reused connection turns out to be
   * closed; for a request that must not run twice, use a connection of its own. */
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, idempotent(r) ? 0L : 1L);
}

/* core.http_send{method, url, headers = {"Name: value", ...}, body, timeout,
 *   connect_timeout, max_body, insecure, retry = false | {...}}
 * Starts the transfer for the current task; the task then suspends and is woken
 * with (true, response) or (false, error fields). */
int http_send(lua_State *L) {
  Request *r;
  Task *t = sched_current();
  size_t body_len = 0;
  const char *body;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (t == NULL) return luaL_error(L, "http requests can only be made inside a task");
  r = calloc(1, sizeof *r);
  if (r == NULL) return luaL_error(L, "out of memory");
  timer_init(&r->retry_timer, retry_fire);
  r->method = field_strdup(L, 1, "method", 1);
  r->url = field_strdup(L, 1, "url", 1);
  lua_getfield(L, 1, "body");
  body = lua_tolstring(L, -1, &body_len);
  if (body) {
    r->body = malloc(body_len + 1);
    if (r->body == NULL) abort();
    memcpy(r->body, body, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
  }
  lua_pop(L, 1);
  read_retry(L, 1, &r->retry);
  read_headers(L, 1, r);
  /* Large bodies would wait a second for "100 Continue" first: skip that round trip. */
  if (r->body_len > 1024) r->headers = curl_slist_append(r->headers, "Expect:");
  r->max_body = (size_t)fmin(fmax(field_num(L, 1, "max_body", 64.0 * 1024 * 1024), 0), 1e15);
  r->easy = easy_get();
  if (r->easy == NULL) {
    request_free(r);
    return luaL_error(L, "curl_easy_init failed");
  }
  lua_getfield(L, 1, "insecure");
  setup_easy(r, field_num(L, 1, "timeout", 30), field_num(L, 1, "connect_timeout", 10), lua_toboolean(L, -1));
  lua_pop(L, 1);
  r->task = t;
  r->started = clock_now();
  sched_set_request(t, r);
  attach(r);
  return 0;
}

/* core.http_configure{max_host_connections = n, user_agent = s} */
int http_configure(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "max_host_connections");
  if (!lua_isnil(L, -1)) {
    max_host_connections = (long)luaL_checkinteger(L, -1);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_host_connections * 4);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "user_agent");
  if (lua_isstring(L, -1)) snprintf(user_agent, sizeof user_agent, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  return 0;
}

/* core.url_check(url) -> true, or nil and why libcurl's own parser refuses it: a URL that
 * passes here is one curl will send, so a bad one is the caller's error, not the network's. */
int http_url_check(lua_State *L) {
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

int http_active(void) { return active + nwaiting; }

void http_wakeup(void) {
  if (multi) curl_multi_wakeup(multi);
}

void http_set_verbose(int on) { verbose = on; }

const char *http_curl_version(void) {
  return curl_version_info(CURLVERSION_NOW)->version;
}

int http_init(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
  multi = curl_multi_init();
  if (multi == NULL) return -1;
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_host_connections * 4);
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  srand((unsigned)time(NULL) ^ (unsigned)clock());
  return 0;
}

void http_shutdown(void) {
  while (pool_len > 0) curl_easy_cleanup(pool[--pool_len]);
  curl_multi_cleanup(multi);
  multi = NULL;
  curl_global_cleanup();
}
