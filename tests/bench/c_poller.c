/*
 * c_poller.c -- the floor of the scale benchmark: what tests/bench/scale.lua does, in
 * plain C on libcurl's multi interface. RUNS Agentforce runs (alternately
 * Order_Support_All_Pass, 3 cases, and Billing_Agent_Regressions, 4 cases of which 2 fail)
 * are started at once against the sandbox, each polled with poll.wait's default
 * schedule (at once, then 1 s, x1.5, at most 30 s, +-10% jitter) until its status is
 * terminal, then its results are read until they are too, and checked. The requests are
 * the ones evalua sends: one OAuth token, POST .../runs, GET .../runs/{id},
 * GET .../runs/{id}/results, with the same headers; at most 32 connections (evalua's
 * per-host cap) and 64 transfers attached at once (evalua's admission bound), the rest
 * waiting in a FIFO. Bodies are decoded with lua-cjson in a bare Lua state.
 *
 *   SF_CLIENT_ID=... SF_CLIENT_SECRET=... c_poller SANDBOX_URL RUNS MIN_SECONDS MAX_SECONDS
 *
 * The credentials come from the environment, as agentforce.connect reads them, so that
 * no secret is compiled into the binary.
 *
 * Prints the "name value" lines scale.lua prints, for the same figures.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "c_poller"
#include <math.h>
#include <sys/resource.h>
#include <curl/curl.h>
#include "bench.h"

#define CAP 32
#define ATTACHED_MAX (2 * CAP)
#define API "/services/data/v63.0/einstein/ai-evaluations/runs"

static const struct { const char *name; int cases, failed; } definitions[] = {
  {"Order_Support_All_Pass", 3, 0},
  {"Billing_Agent_Regressions", 4, 2},
};

enum phase { START, STATUS, RESULTS, DONE };

typedef struct Run {
  int def;
  enum phase phase;
  char id[64];
  double due, interval;
} Run;

typedef struct Xfer {
  CURL *easy;
  Run *run;
  Body body;
} Xfer;

static lua_State *L;            /* index 1: cjson.decode */
static CURLM *multi;
static Run *runs;
static Run **heap;              /* runs waiting for their next poll, by due time */
static size_t nheap;
static Run **fifo;              /* runs whose request is due, waiting for a transfer slot */
static size_t fifo_head, fifo_len, nruns;
static Xfer *free_xfers[ATTACHED_MAX];
static int nfree, attached;
static char instance[512], auth_header[4096];
static struct curl_slist *get_headers, *post_headers;
static char post_body[sizeof definitions / sizeof definitions[0]][128];
static long started, start_errors, done, correct, failed_requests;
static double t0, all_started_at = -1;
static long rss_all_started_kb;

static long status_kb(const char *field) {
  char line[256];
  long kb = -1;
  size_t n = strlen(field);
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') kb = atol(line + n + 1);
  fclose(f);
  return kb;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the timer heap ---- */
static void heap_swap(size_t a, size_t b) {
  Run *t = heap[a];
  heap[a] = heap[b];
  heap[b] = t;
}

static void heap_push(Run *r) {
  size_t i = nheap++;
  heap[i] = r;
  while (i > 0 && heap[(i - 1) / 2]->due > heap[i]->due) {
    heap_swap(i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static Run *heap_pop(void) {
  Run *top = heap[0];
  size_t i = 0;
  heap[0] = heap[--nheap];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < nheap && heap[l]->due < heap[m]->due) m = l;
    if (r < nheap && heap[r]->due < heap[m]->due) m = r;
    if (m == i) break;
    heap_swap(i, m);
    i = m;
  }
  return top;
}

static void fifo_push(Run *r) {
  fifo[(fifo_head + fifo_len++) % nruns] = r;
}

/* ---- transfers ---- */
static void attach(Run *r) {
  char url[1024];
  Xfer *x = free_xfers[--nfree];
  x->run = r;
  x->body.len = 0;
  if (r->phase == START) {
    snprintf(url, sizeof url, "%s%s", instance, API);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, post_body[r->def]);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, post_headers);
  } else {
    snprintf(url, sizeof url, "%s%s/%s%s", instance, API, r->id, r->phase == RESULTS ? "/results" : "");
    curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, get_headers);
  }
  curl_easy_setopt(x->easy, CURLOPT_URL, url);
  curl_multi_add_handle(multi, x->easy);
  attached++;
}

/* The next poll of r after the current interval (with jitter), the interval grown. */
static void schedule(Run *r) {
  double jitter = 1 + 0.1 * (2.0 * rand() / RAND_MAX - 1);
  r->due = now() + r->interval * jitter;
  r->interval = r->interval * 1.5 > 30 ? 30 : r->interval * 1.5;
  heap_push(r);
}

static int terminal(const char *status) {
  return strcmp(status, "COMPLETED") == 0 || strcmp(status, "ERROR") == 0 ||
         strcmp(status, "TERMINATED") == 0;
}

/* Cases that failed in a results document at the top of the stack (metricScore FAILED
 * or result FAILURE in any testResults entry); -1 when it has no testCases. */
static int failed_cases(int *ncases) {
  int failed = 0;
  if (lua_getfield(L, -1, "testCases") != LUA_TTABLE) {
    lua_pop(L, 1);
    return -1;
  }
  *ncases = (int)lua_rawlen(L, -1);
  for (int i = 1; i <= *ncases; i++) {
    int bad = 0;
    lua_rawgeti(L, -1, i);
    if (lua_getfield(L, -1, "testResults") == LUA_TTABLE) {
      for (int j = 1; j <= (int)lua_rawlen(L, -1); j++) {
        const char *score, *result;
        lua_rawgeti(L, -1, j);
        lua_getfield(L, -1, "metricScore");
        lua_getfield(L, -2, "result");
        score = lua_tostring(L, -2);
        result = lua_tostring(L, -1);
        if ((score && strcmp(score, "FAILED") == 0) || (result && strcmp(result, "FAILURE") == 0)) bad = 1;
        lua_pop(L, 3);
      }
    }
    lua_pop(L, 2);
    failed += bad;
  }
  lua_pop(L, 1);
  return failed;
}

static void finish(Run *r) {
  r->phase = DONE;
  done++;
}

/* A transfer ended: decode its body and move its run on. */
static void complete(Xfer *x, CURLcode rc) {
  Run *r = x->run;
  long code = 0;
  const char *status;
  curl_multi_remove_handle(multi, x->easy);
  attached--;
  free_xfers[nfree++] = x;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK || code / 100 != 2) {
    failed_requests++;
    if (r->phase == START) start_errors++;
    finish(r);
    return;
  }
  decode_body(L, &x->body);
  if (r->phase == START) {
    if (lua_getfield(L, -1, "runId") != LUA_TSTRING) die("start response without runId");
    snprintf(r->id, sizeof r->id, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    r->phase = STATUS;
    r->interval = 1;
    if (++started + start_errors == (long)nruns) {
      all_started_at = now();
      rss_all_started_kb = status_kb("VmRSS");
    }
    fifo_push(r);                                /* poll.wait looks at once */
  } else if (lua_getfield(L, -1, "status") != LUA_TSTRING) {
    die("status or results document without status");
  } else {
    status = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (r->phase == STATUS && terminal(status)) {
      r->phase = RESULTS;
      fifo_push(r);                              /* the same poll reads the results */
    } else if (r->phase == RESULTS && terminal(status)) {
      int ncases = 0, failed = failed_cases(&ncases);
      if (strcmp(status, "COMPLETED") == 0 && ncases == definitions[r->def].cases &&
          failed == definitions[r->def].failed)
        correct++;
      finish(r);
    } else {
      schedule(r);
    }
  }
  lua_settop(L, 1);
}

/* ---- blocking requests: the sandbox's control API and the token ---- */
static void request(const char *url, const char *body, const char *content_type, Body *out) {
  CURL *e = curl_easy_init();
  struct curl_slist *h = NULL;
  char header[128];
  long code = 0;
  out->len = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  if (body) {
    snprintf(header, sizeof header, "content-type: %s", content_type);
    h = curl_slist_append(h, header);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  }
  if (curl_easy_perform(e) != CURLE_OK) die(url);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) die(url);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  decode_body(L, out);
}

/* The token request's form: SF_CLIENT_ID and SF_CLIENT_SECRET, URL-encoded. */
static void form_credentials(char *out, size_t cap) {
  const char *id = getenv("SF_CLIENT_ID"), *secret = getenv("SF_CLIENT_SECRET");
  char *eid, *esecret;
  if (id == NULL || secret == NULL) die("set SF_CLIENT_ID and SF_CLIENT_SECRET");
  eid = curl_easy_escape(NULL, id, 0);
  esecret = curl_easy_escape(NULL, secret, 0);
  if (eid == NULL || esecret == NULL) die("out of memory");
  if ((size_t)snprintf(out, cap, "grant_type=client_credentials&client_id=%s&client_secret=%s", eid, esecret) >= cap)
    die("SF_CLIENT_ID and SF_CLIENT_SECRET are too long");
  curl_free(eid);
  curl_free(esecret);
}

static long field(const char *name) {
  long v;
  lua_getfield(L, -1, name);
  v = (long)lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

int main(int argc, char **argv) {
  char url[1024], body[256], body_form[1024];
  Body scratch = {0};
  long lo, hi, rss0, requests, attempts = 0;
  double cpu0, cpu, seconds;
  if (argc != 5) die("usage: c_poller SANDBOX_URL RUNS MIN_SECONDS MAX_SECONDS");
  nruns = (size_t)atol(argv[2]);
  lo = atol(argv[3]);
  hi = atol(argv[4]);
  if (nruns < 1 || lo < 0 || hi < lo) die("RUNS must be positive, MIN <= MAX");
  srand(1);
  L = cjson_state();
  curl_global_init(CURL_GLOBAL_DEFAULT);

  snprintf(url, sizeof url, "%s/_control/reset", argv[1]);
  request(url, "{}", "application/json", &scratch);
  snprintf(url, sizeof url, "%s/_control/config", argv[1]);
  snprintf(body, sizeof body, "{\"run_seconds\":[%ld,%ld],\"max_in_progress\":%zu}", lo, hi, nruns * 2);
  request(url, body, "application/json", &scratch);
  lua_settop(L, 1);

  runs = calloc(nruns, sizeof *runs);
  heap = calloc(nruns, sizeof *heap);
  fifo = calloc(nruns, sizeof *fifo);
  if (runs == NULL || heap == NULL || fifo == NULL) die("out of memory");
  for (size_t d = 0; d < sizeof definitions / sizeof definitions[0]; d++)
    snprintf(post_body[d], sizeof post_body[d], "{\"aiEvaluationDefinitionName\":\"%s\"}", definitions[d].name);
  multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)CAP);
  for (int i = 0; i < ATTACHED_MAX; i++) {
    Xfer *x = calloc(1, sizeof *x);
    if (x == NULL) die("out of memory");
    x->easy = curl_easy_init();
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    free_xfers[nfree++] = x;
  }

  rss0 = status_kb("VmRSS");
  cpu0 = cpu_seconds();
  t0 = now();
  /* The token, as the client's first request. */
  snprintf(url, sizeof url, "%s/sf/services/oauth2/token", argv[1]);
  form_credentials(body_form, sizeof body_form);
  request(url, body_form, "application/x-www-form-urlencoded", &scratch);
  lua_getfield(L, -1, "access_token");
  lua_getfield(L, -2, "instance_url");
  if (!lua_isstring(L, -1) || !lua_isstring(L, -2)) die("token response without access_token/instance_url");
  snprintf(instance, sizeof instance, "%s", lua_tostring(L, -1));
  snprintf(auth_header, sizeof auth_header, "authorization: Bearer %s", lua_tostring(L, -2));
  lua_settop(L, 1);
  get_headers = curl_slist_append(NULL, auth_header);
  get_headers = curl_slist_append(get_headers, "accept: application/json");
  post_headers = curl_slist_append(NULL, auth_header);
  post_headers = curl_slist_append(post_headers, "accept: application/json");
  post_headers = curl_slist_append(post_headers, "content-type: application/json");

  for (size_t i = 0; i < nruns; i++) {
    runs[i].def = (int)((i + 1) % 2);            /* scale.lua: definitions[i % 2 + 1], i from 1 */
    fifo_push(&runs[i]);
  }
  while (done < (long)nruns) {
    double t = now(), wait;
    int running, queued;
    CURLMsg *m;
    while (nheap > 0 && heap[0]->due <= t) fifo_push(heap_pop());
    while (nfree > 0 && fifo_len > 0) {
      attach(fifo[fifo_head]);
      fifo_head = (fifo_head + 1) % nruns;
      fifo_len--;
      attempts++;
    }
    curl_multi_perform(multi, &running);
    while ((m = curl_multi_info_read(multi, &queued)) != NULL) {
      char *x;
      if (m->msg != CURLMSG_DONE) continue;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
      complete((Xfer *)x, m->data.result);
    }
    if (fifo_len > 0 && nfree > 0) continue;
    wait = nheap > 0 ? heap[0]->due - now() : 1;
    if (wait > 1) wait = 1;
    if (wait < 0) wait = 0;
    /* Rounded up: a wait truncated to 0 ms would spin until the next poll is due. */
    curl_multi_poll(multi, NULL, 0, (int)ceil(wait * 1000), NULL);
  }
  cpu = cpu_seconds() - cpu0;
  seconds = now() - t0;

  snprintf(url, sizeof url, "%s/_control/stats", argv[1]);
  request(url, NULL, NULL, &scratch);
  requests = field("requests");
  printf("runs %zu\n", nruns);
  printf("completed_correctly %ld\n", correct);
  printf("start_errors %ld\n", start_errors);
  printf("failed_requests %ld\n", failed_requests);
  printf("seconds %.2f\n", seconds);
  printf("start_seconds %.2f\n", all_started_at < 0 ? -1 : all_started_at - t0);
  printf("requests %ld\n", requests);
  printf("requests_sent %ld\n", attempts + 1);
  printf("requests_per_run %.2f\n", (double)requests / (double)nruns);
  printf("cpu_seconds %.3f\n", cpu);
  printf("cpu_us_per_request %.2f\n", cpu * 1e6 / (double)requests);
  printf("peak_rss_kb %ld\n", status_kb("VmHWM"));
  printf("rss_per_waiting_run_bytes %.0f\n", (double)(rss_all_started_kb - rss0) * 1024 / (double)nruns);
  printf("polls_after_terminal %ld\n", field("polls_after_terminal"));
  printf("max_connections %ld\n", field("max_connections"));
  printf("connection_cap %d\n", CAP);
  return correct == (long)nruns ? 0 : 1;
}
