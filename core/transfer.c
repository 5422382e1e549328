/*
 * transfer.c -- HTTP transfers on one curl multi handle: the pool of easy handles,
 * the admission queue, retries with backoff, and redirects. curl callbacks only fill
 * C buffers; when a request is over, the task waiting for it is woken and its
 * continuation (http_lua.c) builds the Lua values. Nothing here touches Lua.
 *
 * Admission before allocation: a request over the limit waits in our queue holding no
 * easy handle (libcurl's own pending list costs time quadratic in its length, and its
 * timeout clock would count the wait). Redirects are followed here, not by libcurl, so
 * that credentials stay with the origin they were configured for.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>

#include "evalua.h"

static CURLM *multi;
static int active;              /* transfers attached to the multi handle */
static Request *waiting_head, *waiting_tail;
static int nwaiting;
static long max_host_connections = 32;
static Request *fed_head;       /* requests whose body sink has new bytes to read */
static char user_agent[128] = "evalua/" EVALUA_VERSION;

/* Easy handles are reused: they keep their DNS and TLS session caches. Each remembers
 * the options it was last given, so a request sets only those that differ (every
 * curl_easy_setopt costs ~70 instructions; a small poll's request differs from the last
 * one in its URL alone). libcurl's callbacks and CURLINFO_PRIVATE get the Easy, whose r
 * is the request it carries now. The pool holds the handles made with the current user
 * agent (set once per handle). */
typedef struct Easy {
  CURL *curl;
  Request *r;
  unsigned generation;
  char errbuf[CURL_ERROR_SIZE];
  /* the options as last set; method: 0 GET, 1 HEAD, -1 whatever the last request set */
  curl_off_t max_body;
  int insecure, pipewait, method, compressed, fresh;
  struct curl_slist *headers;
} Easy;

static Easy *pool[64];
static int pool_len;
static unsigned ua_generation;

/* ---- buffers ---- */

void buf_free(Buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int buf_reserve(Buf *b, size_t extra) {
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

int buf_append(Buf *b, const char *data, size_t len) {
  if (buf_reserve(b, len) != 0) return -1;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

/* ---- curl callbacks: C buffers only ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  Request *r = ((Easy *)ud)->r;
  size_t len = size * n;
  if (!r->body_started) {
    long status = 0;
    r->body_started = 1;
    if (r->sink) {                      /* only a success is decoded as it arrives */
      curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
      r->streaming = status >= 200 && status < 300;
    }
  }
  if (r->received + len > r->max_body) {
    r->too_large = 1;
    return 0;                           /* makes curl stop with CURLE_WRITE_ERROR */
  }
  if (r->received < sizeof r->head)
    memcpy(r->head + r->received, data, len < sizeof r->head - r->received ? len : sizeof r->head - r->received);
  r->received += len;
  if (r->streaming == 2) return len;    /* the decode failed already: counted, not kept */
  if (r->streaming && !r->fed_listed) {
    r->fed_listed = 1;
    r->next_fed = fed_head;
    fed_head = r;
  }
  return buf_append(&r->resp_body, data, len) == 0 ? len : 0;
}

static void unlist_fed(Request *r) {
  Request **p = &fed_head;
  if (!r->fed_listed) return;
  while (*p && *p != r) p = &(*p)->next_fed;
  if (*p) *p = r->next_fed;
  r->fed_listed = 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  Request *r = ((Easy *)ud)->r;
  size_t len = size * n;
  /* A new status line starts a new response (100 Continue): keep the last. */
  if (len > 5 && strncmp(data, "HTTP/", 5) == 0) r->resp_head.len = 0;
  if (len == 2 && data[0] == '\r' && r->resp_body.cap == 0 && r->sink == NULL) {
    curl_off_t cl = -1;
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    /* Size the body buffer once when the length is known: no doubling overshoot. */
    if (cl > 0 && (size_t)cl <= r->max_body) buf_reserve(&r->resp_body, (size_t)cl);
  }
  if (trace_on) trace_header("< ", data, len);
  return buf_append(&r->resp_head, data, len) == 0 ? len : 0;
}

/* ---- easy handles ---- */

/* Whether the environment names a proxy the way libcurl reads it (it ignores HTTP_PROXY
 * in capitals). Without one, handles say "no proxy" outright: libcurl would otherwise
 * look the variables up again for every transfer (~1.5k instructions each). */
static int proxy_in_environment(void) {
  static const char *const names[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (getenv(names[i]) && *getenv(names[i])) return 1;
  return 0;
}

/* Options every request shares, set once per handle: a pooled handle is not reset, so
 * only what differs between requests is set again (setup_easy). */
static Easy *easy_new(void) {
  Easy *h = calloc(1, sizeof *h);
  CURL *e = h ? curl_easy_init() : NULL;
  if (e == NULL) {
    free(h);
    return NULL;
  }
  h->curl = e;
  h->generation = ua_generation;
  h->max_body = -1;
  h->insecure = h->pipewait = h->method = h->compressed = h->fresh = -1;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent);
  if (!proxy_in_environment()) curl_easy_setopt(e, CURLOPT_PROXY, "");
  return h;
}

static void easy_free(Easy *h) {
  curl_easy_cleanup(h->curl);
  free(h);
}

static int easy_get(Request *r) {
  Easy *h = pool_len > 0 ? pool[--pool_len] : easy_new();
  if (h == NULL) return -1;
  h->r = r;
  r->handle = h;
  r->easy = h->curl;
  return 0;
}

static void easy_put(Request *r) {
  Easy *h = r->handle;
  r->handle = NULL;
  r->easy = NULL;
  h->r = NULL;
  if (h->generation == ua_generation && pool_len < (int)(sizeof pool / sizeof pool[0])) pool[pool_len++] = h;
  else easy_free(h);
}

static int idempotent(const Request *r) {
  return r->retry.idempotent >= 0 ? r->retry.idempotent : method_is_idempotent(r->method);
}

/* ---- timeouts ----
 * An attempt's time limits are evalua's own timers, not CURLOPT_TIMEOUT_MS and
 * CURLOPT_CONNECTTIMEOUT_MS: with those two set libcurl spends ~3.4k instructions more
 * on every transfer (its timeout bookkeeping), 5% of a small poll. The connect limit
 * covers what libcurl's does (resolving, connecting, the TLS handshake: everything
 * before the request is sent); the total limit the whole attempt. Both end the attempt
 * as libcurl would, with CURLE_OPERATION_TIMEDOUT and the same kind of message. */

static void on_done(CURL *easy, CURLcode rc, const char *why);

static void arm_attempt_timer(Request *r) {
  double when = r->connect_end < r->attempt_end ? r->connect_end : r->attempt_end;
  if (when < HUGE_VAL) timer_arm(&r->attempt_timer, when);   /* no limit: no timer */
}

static void attempt_timer_fire(Timer *t) {
  Request *r = (Request *)((char *)t - offsetof(Request, attempt_timer));
  double now = clock_now();
  curl_off_t sent = 0;
  char why[128];
  if (now < r->attempt_end) {
    /* The connect limit: over unless the connection is up and the request went out. */
    curl_easy_getinfo(r->easy, CURLINFO_PRETRANSFER_TIME_T, &sent);
    if (sent > 0) {
      r->connect_end = HUGE_VAL;
      arm_attempt_timer(r);
      return;
    }
    snprintf(why, sizeof why, "Connection timed out after %.0f milliseconds", (now - r->attempt_began) * 1000);
  } else {
    snprintf(why, sizeof why, "Operation timed out after %.0f milliseconds with %zu bytes received",
             (now - r->attempt_began) * 1000, r->received);
  }
  on_done(r->easy, CURLE_OPERATION_TIMEDOUT, why);
}

/* Set an option of the handle unless it already has that value. */
#define SET(h, field, opt, value) \
  do { \
    if ((h)->field != (value)) { \
      (h)->field = (value); \
      curl_easy_setopt((h)->curl, (opt), (value)); \
    } \
  } while (0)

static void setup_easy(Request *r) {
  Easy *h = r->handle;
  CURL *e = h->curl;
  double now = clock_now(), timeout = r->timeout > 0 ? r->timeout : HUGE_VAL, left = r->deadline - now;
  int method = strcmp(r->method, "GET") == 0 && !r->body ? 0 : strcmp(r->method, "HEAD") == 0 ? 1 : -1;
  r->deadline_limits = left < timeout;
  if (left < timeout) timeout = left;     /* an attempt never outlives the deadline */
  r->attempt_began = now;
  r->attempt_end = now + timeout;
  r->connect_end = now + (r->connect_timeout > 0 ? r->connect_timeout : 300);   /* libcurl's default */
  h->errbuf[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  SET(h, max_body, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
  if (h->insecure != r->insecure) {
    h->insecure = r->insecure;
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, r->insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, r->insecure ? 0L : 2L);
  }
  /* Wait for a multiplexed HTTP/2 stream only where one can exist (TLS with ALPN): on
   * plain http it would hold a request behind another host's slow one. */
  SET(h, pipewait, CURLOPT_PIPEWAIT, strncasecmp(r->url, "https:", 6) == 0 ? 1L : 0L);
  /* The method: a GET or HEAD without a body is remembered; anything else is set in full
   * (its strings belong to the request). */
  if (method < 0 || h->method != method) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);        /* (it clears NOBODY: first) */
    curl_easy_setopt(e, CURLOPT_NOBODY, method == 1 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (method < 0 && r->body) {
      if (strcmp(r->method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    } else if (method < 0) {
      /* No body: the method alone. (POSTFIELDS "" would add a form Content-Type.) */
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    h->method = method;
  }
  /* The same list (a template's) is left as it is: libcurl reads it at each transfer. */
  SET(h, headers, CURLOPT_HTTPHEADER, r->headers);
  /* Compression costs libcurl ~10k instructions a transfer even when the answer is not
   * compressed: asked for only where bodies are large (results documents). */
  if (h->compressed != r->compressed) {
    h->compressed = r->compressed;
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, r->compressed ? "" : (char *)NULL);
  }
  /* libcurl silently sends a request again when a reused connection turns out to be
   * closed; for a request that must not run twice, use a connection of its own. A
   * retry always does, for the same reason. */
  SET(h, fresh, CURLOPT_FRESH_CONNECT, !idempotent(r) || r->attempt > 1 ? 1L : 0L);
}

/* ---- admission ---- */

static int limit(void) { return (int)(max_host_connections * 2); }

static int attach(Request *r) {
  if (easy_get(r) != 0) return -1;
  setup_easy(r);
  if (curl_multi_add_handle(multi, r->easy) != CURLM_OK) {
    easy_put(r);
    return -1;
  }
  r->state = REQ_ACTIVE;
  active++;
  arm_attempt_timer(r);
  return 0;
}

static void fail(Request *r, const char *kind, const char *message, int code);

static void admit_waiting(void) {
  while (waiting_head && active < limit()) {
    Request *r = waiting_head;
    waiting_head = r->next_waiting;
    if (waiting_head == NULL) waiting_tail = NULL;
    r->next_waiting = NULL;
    nwaiting--;
    if (attach(r) != 0) fail(r, "protocol", "cannot create a curl handle (out of memory?)", 0);
  }
}

static void begin_attempt(Request *r) {
  r->attempt++;
  r->resp_body.len = 0;
  r->resp_head.len = 0;
  r->received = 0;
  r->body_started = r->streaming = 0;
  if (r->sink) r->sink_reset(r);
  r->too_large = 0;
  if (trace_on) {
    if (r->attempt > 1) trace_note("* attempt %d of %d", r->attempt, r->retry.attempts);
    trace_request(r);
  }
  if (active >= limit() || waiting_head) {
    r->state = REQ_QUEUED;
    r->next_waiting = NULL;
    if (waiting_tail) waiting_tail->next_waiting = r;
    else waiting_head = r;
    waiting_tail = r;
    nwaiting++;
    return;
  }
  if (attach(r) != 0) fail(r, "protocol", "cannot create a curl handle (out of memory?)", 0);
}

void transfer_start(Request *r) {
  r->started = clock_now();
  begin_attempt(r);
}

static void unqueue(Request *r) {
  Request **p = &waiting_head, *prev = NULL;
  while (*p && *p != r) prev = *p, p = &(*p)->next_waiting;
  if (*p == NULL) return;
  *p = r->next_waiting;
  if (waiting_tail == r) waiting_tail = prev;
  r->next_waiting = NULL;
  nwaiting--;
}

/* Take the request off whatever it is on; it keeps its buffers. */
static void detach(Request *r) {
  if (r->state == REQ_QUEUED) unqueue(r);
  if (r->easy) {
    if (r->state == REQ_ACTIVE) {
      curl_multi_remove_handle(multi, r->easy);
      active--;
    }
    easy_put(r);
  }
  timer_disarm(&r->retry_timer);
  timer_disarm(&r->attempt_timer);
  unlist_fed(r);
}

void transfer_cancel(Request *r) {
  int was_active = r->state == REQ_ACTIVE;
  if (r->state == REQ_DONE || r->state == REQ_CANCELLED) return;
  detach(r);
  r->state = REQ_CANCELLED;
  r->task = NULL;
  if (was_active) admit_waiting();
}

void transfer_trim(Request *r) {
  transfer_cancel(r);
  if (!r->shared_headers) curl_slist_free_all(r->headers);
  r->headers = NULL;
  free(r->body);
  free(r->message);
  r->body = r->message = NULL;
}

void transfer_release(Request *r) {
  transfer_trim(r);
  buf_free(&r->resp_body);
  buf_free(&r->resp_head);
  free(r->method);
  free(r->url);
  r->method = r->url = NULL;
}

/* The request is over: wake its task, whose continuation reads the outcome. */
static void finish(Request *r) {
  Task *t = r->task;
  detach(r);
  r->state = REQ_DONE;
  r->task = NULL;
  sched_wake(t, WAKE_EVENT);
}

static void fail(Request *r, const char *kind, const char *message, int code) {
  r->failed = 1;
  r->kind = kind;
  r->code = code;
  free(r->message);
  r->message = message ? strdup(message) : NULL;
  finish(r);
}

/* ---- retries ---- */

static void retry_fire(Timer *t) {
  Request *r = (Request *)((char *)t - offsetof(Request, retry_timer));
  begin_attempt(r);
}

static double unit_random(void) {
  return (double)rand() / ((double)RAND_MAX + 1.0);
}

/* Schedule another attempt if the policy and the deadline allow: 1 when scheduled,
 * 0 when out of attempts, -1 when the wait would pass the deadline (r->message says). */
static int schedule_retry(Request *r, const char *why, double retry_after) {
  double delay, now = clock_now();
  char msg[320];
  if (r->attempt >= r->retry.attempts) return 0;
  delay = retry_backoff(&r->retry, r->attempt + 1, unit_random());
  if (retry_after >= 0) {
    /* The server said when; a wait longer than our cap means give up now. */
    if (retry_after > r->retry.max_backoff * 10 && retry_after > 300) return 0;
    delay = retry_after;
  }
  if (now + delay >= r->deadline) {
    r->deadline_hit = 1;
    snprintf(msg, sizeof msg, "%s; the retry %s %.3gs would pass the deadline (%.3gs left), gave up after %d attempt%s",
             why, retry_after >= 0 ? "the server asked for in" : "due in", delay,
             r->deadline - now > 0 ? r->deadline - now : 0, r->attempt, r->attempt == 1 ? "" : "s");
    free(r->message);
    r->message = strdup(msg);
    return -1;
  }
  if (trace_on) {
    char *url = redact_url(r->url);
    trace_note("* %s %s: %s; retrying in %.2fs (attempt %d of %d)", r->method, url, why, delay,
               r->attempt + 1, r->retry.attempts);
    free(url);
  }
  detach(r);
  r->state = REQ_RETRY_WAIT;
  timer_arm(&r->retry_timer, now + delay);
  return 1;
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

/* What went wrong, in words: why is libcurl's message (or evalua's own, for its time
 * limits), NULL when there is none. */
static const char *describe(CURLcode rc, const Request *r, const char *why) {
  if (r->too_large || rc == CURLE_FILESIZE_EXCEEDED) return NULL;
  if (rc == CURLE_GOT_NOTHING) return "the server closed the connection without responding";
  if (rc == CURLE_PARTIAL_FILE) return "the connection closed before the whole body arrived";
  return why && why[0] ? why : curl_easy_strerror(rc);
}

/* ---- redirects ---- */

static char *url_part(CURLU *u, CURLUPart part, unsigned flags) {
  char *v = NULL;
  if (curl_url_get(u, part, &v, flags) != CURLUE_OK) return NULL;
  return v;
}

/* Whether two absolute URLs share scheme, host and port. */
int transfer_url_origin_same(const char *a, const char *b) {
  CURLU *ua = curl_url(), *ub = curl_url();
  int same = 0;
  if (ua && ub && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
      curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK) {
    static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
    same = 1;
    for (size_t i = 0; i < 3 && same; i++) {
      char *x = url_part(ua, parts[i], CURLU_DEFAULT_PORT), *y = url_part(ub, parts[i], CURLU_DEFAULT_PORT);
      same = x && y && strcasecmp(x, y) == 0;
      curl_free(x);
      curl_free(y);
    }
  }
  curl_url_cleanup(ua);
  curl_url_cleanup(ub);
  return same;
}

/* Headers that may go to another origin: what describes the request, nothing that
 * could carry a credential (auth providers may use any header name). */
static int header_travels(const char *line) {
  static const char *const safe[] = {"accept:", "accept-language:", "user-agent:", "content-type:", "expect:"};
  for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
    if (strncasecmp(line, safe[i], strlen(safe[i])) == 0) return 1;
  return 0;
}

/* Follow a 3xx answer if it is one to follow; returns 1 when a new attempt went out,
 * 0 to deliver the 3xx as it is, -1 after failing the request with a clear error. */
static int follow_redirect(Request *r, long status) {
  char location[2048], msg[2600];
  CURLU *u;
  char *next = NULL, *scheme = NULL, *old_url, *shown_from, *shown_to;
  int cross, keeps_body;
  if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) return 0;
  if (!http_find_header(r->resp_head.data, r->resp_head.len, "location", location, sizeof location)) return 0;
  if (r->redirects >= 10) {
    fail(r, "protocol", "too many redirects (a redirect loop?)", CURLE_TOO_MANY_REDIRECTS);
    return -1;
  }
  u = curl_url();
  if (u == NULL || curl_url_set(u, CURLUPART_URL, r->url, 0) != CURLUE_OK ||
      curl_url_set(u, CURLUPART_URL, location, CURLU_ALLOW_SPACE) != CURLUE_OK ||
      (next = url_part(u, CURLUPART_URL, 0)) == NULL || (scheme = url_part(u, CURLUPART_SCHEME, 0)) == NULL) {
    curl_url_cleanup(u);
    curl_free(next);
    fail(r, "protocol", "the server redirected to a URL that cannot be parsed", CURLE_URL_MALFORMAT);
    return -1;
  }
  curl_url_cleanup(u);
  shown_from = redact_url(r->url);
  shown_to = redact_url(next);
  keeps_body = status == 307 || status == 308;
  cross = !transfer_url_origin_same(r->url, next);
  msg[0] = '\0';
  if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
    snprintf(msg, sizeof msg, "refused a redirect (HTTP %ld) from %s to %s: only http and https are followed",
             status, shown_from, shown_to);
  else if (strncasecmp(r->url, "https:", 6) == 0 && strcasecmp(scheme, "http") == 0)
    snprintf(msg, sizeof msg, "refused a redirect (HTTP %ld) from %s to %s: a downgrade from https to http",
             status, shown_from, shown_to);
  else if (cross && r->same_origin_only)
    snprintf(msg, sizeof msg, "refused a redirect (HTTP %ld) from %s to another origin, %s: this request "
             "carries credentials in its body", status, shown_from, shown_to);
  else if (cross && keeps_body && r->body)
    snprintf(msg, sizeof msg, "refused a redirect (HTTP %ld) from %s to another origin, %s: it would resend "
             "the request body there", status, shown_from, shown_to);
  curl_free(scheme);
  if (msg[0]) {
    free(shown_from);
    free(shown_to);
    curl_free(next);
    fail(r, "protocol", msg, CURLE_TOO_MANY_REDIRECTS);
    return -1;
  }
  if (trace_on) trace_note("* HTTP %ld: redirected to %s%s", status, shown_to, cross ? " (another origin: credentials dropped)" : "");
  free(shown_from);
  free(shown_to);
  if (!keeps_body && strcmp(r->method, "HEAD") != 0 && (status == 303 || strcmp(r->method, "POST") == 0)) {
    free(r->method);
    r->method = strdup("GET");
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
  }
  if (cross) {
    struct curl_slist *kept = NULL;
    for (struct curl_slist *h = r->headers; h; h = h->next)
      if (header_travels(h->data)) kept = curl_slist_append(kept, h->data);
    if (!r->shared_headers) curl_slist_free_all(r->headers);
    r->headers = kept;
    r->shared_headers = 0;
  }
  old_url = r->url;
  r->url = strdup(next);
  curl_free(next);
  free(old_url);
  r->redirects++;
  detach(r);
  r->attempt = 0;            /* a new request: its own attempts */
  begin_attempt(r);
  return 1;
}

/* ---- completion ---- */

static void on_done(CURL *easy, CURLcode rc, const char *why) {
  Easy *h = NULL;
  Request *r;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h);
  r = h->r;
  curl_multi_remove_handle(multi, easy);
  if (why == NULL) why = h->errbuf;    /* libcurl's message, in the handle's buffer */
  timer_disarm(&r->attempt_timer);
  r->state = REQ_RETRY_WAIT;            /* off the multi handle, still holding the easy */
  active--;
  if (rc == CURLE_OK) {
    int retry = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (trace_on) {
      char *url = redact_url(r->url);
      trace_note("* %s %s -> %ld in %.0f ms (%zu bytes)", r->method, url, status,
                 (clock_now() - r->started) * 1000, r->received);
      free(url);
    }
    /* 429 and 503 mean "not processed, try later": safe for any method. */
    if (retry_status_listed(&r->retry, (int)status) && (status == 429 || status == 503 || idempotent(r))) {
      char value[128], http_status[64];
      double after = -1;
      if (http_find_header(r->resp_head.data, r->resp_head.len, "retry-after", value, sizeof value))
        after = retry_after_parse(value, (double)time(NULL));
      snprintf(http_status, sizeof http_status, "HTTP %ld", status);
      retry = schedule_retry(r, http_status, after);
      if (retry < 0) {
        r->status = status;
        r->failed = 1;
        r->kind = "timeout";
        r->code = CURLE_OPERATION_TIMEDOUT;
        finish(r);
        admit_waiting();
        return;
      }
    }
    if (retry == 0 && follow_redirect(r, status) != 0) retry = 1;
    if (retry == 0) {
      r->status = status;
      finish(r);
    }
  } else {
    int retryable = retry_transient(rc) && (!may_have_reached_server(rc, r) || idempotent(r));
    /* An attempt cut short by the deadline, not by its own timeout. */
    if (rc == CURLE_OPERATION_TIMEDOUT && r->deadline_limits) {
      r->deadline_hit = 1;
      retryable = 0;
    }
    int sched = 0;
    const char *msg = describe(rc, r, why);
    if (trace_on) {
      char *url = redact_url(r->url);
      trace_note("* %s %s failed: %s", r->method, url, msg ? msg : "response body too large");
      free(url);
    }
    if (retryable) sched = schedule_retry(r, msg ? msg : curl_easy_strerror(rc), -1);
    if (sched == 0) {
      char toolarge[128];
      if (msg == NULL) {
        snprintf(toolarge, sizeof toolarge, "response body larger than the limit of %zu bytes (max_body)", r->max_body);
        msg = toolarge;
      }
      r->retryable = retry_transient(rc);
      fail(r, retry_classify(rc), msg, rc);
    } else if (sched < 0) {
      r->failed = 1;
      r->kind = "timeout";
      r->code = rc;
      finish(r);
    }
  }
  admit_waiting();
}

void transfer_poll(double wait) {
  int running, left;
  CURLMsg *msg;
  /* Rounded up: a timer due in under 1 ms would otherwise make this a busy loop. */
  curl_multi_poll(multi, NULL, 0, (int)ceil(wait * 1000), NULL);
  curl_multi_perform(multi, &running);
  /* Bodies decoded as they arrive read what this perform brought, outside libcurl. */
  while (fed_head) {
    Request *r = fed_head;
    fed_head = r->next_fed;
    r->fed_listed = 0;
    if (r->streaming == 1) r->sink_feed(r);
  }
  while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
    if (msg->msg == CURLMSG_DONE) {
      CURL *easy = msg->easy_handle;      /* copy out: msg dies with remove_handle */
      CURLcode rc = msg->data.result;
      on_done(easy, rc, NULL);
    }
  }
}

int transfer_active(void) {
  return active + nwaiting;
}

void transfer_wakeup(void) {
  if (multi) curl_multi_wakeup(multi);
}

void transfer_set_max_host_connections(long n) {
  max_host_connections = n;
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, n * 4);
  admit_waiting();
}

void transfer_set_user_agent(const char *ua) {
  snprintf(user_agent, sizeof user_agent, "%s", ua);
  ua_generation++;                      /* handles made with the old one are not reused */
  while (pool_len > 0) easy_free(pool[--pool_len]);
}

void transfer_init_request(Request *r) {
  timer_init(&r->retry_timer, retry_fire);
  timer_init(&r->attempt_timer, attempt_timer_fire);
}

int transfer_init(void) {
  if (alloc_install_curl() != 0) return -1;   /* curl_global_init on our allocator */
  multi = curl_multi_init();
  if (multi == NULL) return -1;
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_host_connections * 4);
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  srand((unsigned)time(NULL) ^ (unsigned)clock());
  return 0;
}

void transfer_shutdown(void) {
  while (pool_len > 0) easy_free(pool[--pool_len]);
  curl_multi_cleanup(multi);
  multi = NULL;
  curl_global_cleanup();
}
