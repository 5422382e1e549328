/*
 * curl_multi.c -- the plain-C throughput baseline: N GETs of a small JSON body with
 * libcurl's multi interface, CONCURRENCY easy handles in flight, each body decoded
 * with the same lua-cjson decoder evalua uses (a bare Lua state holding only cjson),
 * so that the ratio against evalua measures evalua's own machinery, not JSON.
 *
 *   curl_multi URL N CONCURRENCY [evalua-options]    prints "rps <requests per second>"
 *
 * With "evalua-options" every easy handle also gets the options core/http.c sets on each
 * request (compression, user agent, accept header, timeouts, redirects, HTTP/2 wish, ...):
 * what libcurl itself charges for them, apart from evalua's Lua and scheduling.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "curl_multi"
#include <curl/curl.h>
#include "bench.h"

typedef struct Slot {
  CURL *easy;
  Body body;
} Slot;

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  (void)data;
  (void)ud;
  return size * n;
}

/* The per-request options of core/http.c's setup_easy, for a GET. */
static void evalua_options(CURL *e, struct curl_slist *headers) {
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_USERAGENT, "evalua/0.1.0");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)64 * 1024 * 1024);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
}

/* cjson.decode(body).status must be a string, as a status poll would read it. */
static void decode(lua_State *L, const Slot *s) {
  decode_body(L, &s->body);
  if (lua_getfield(L, -1, "status") != LUA_TSTRING) die("body has no status field");
  lua_pop(L, 2);
}

int main(int argc, char **argv) {
  long total, conc, started = 0, done = 0;
  CURLM *multi;
  Slot *slots;
  struct curl_slist *headers = NULL;
  int with_options;
  lua_State *L;
  double t0;
  if (argc < 4 || argc > 5) die("usage: curl_multi URL N CONCURRENCY [evalua-options]");
  with_options = argc == 5 && strcmp(argv[4], "evalua-options") == 0;
  if (argc == 5 && !with_options) die("the fourth argument can only be evalua-options");
  total = atol(argv[2]);
  conc = atol(argv[3]);
  if (total < 1 || conc < 1) die("N and CONCURRENCY must be positive");
  if (conc > total) conc = total;
  L = cjson_state();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi = curl_multi_init();
  slots = calloc((size_t)conc, sizeof *slots);
  if (slots == NULL) die("out of memory");
  t0 = now();
  for (long i = 0; i < conc; i++) {
    Slot *s = &slots[i];
    s->easy = curl_easy_init();
    curl_easy_setopt(s->easy, CURLOPT_URL, argv[1]);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->body);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (char *)s);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    if (with_options) {
      if (headers == NULL) headers = curl_slist_append(NULL, "accept: application/json");
      evalua_options(s->easy, headers);
    }
    curl_multi_add_handle(multi, s->easy);
    started++;
  }
  while (done < total) {
    int running, left;
    CURLMsg *msg;
    curl_multi_poll(multi, NULL, 0, 1000, NULL);
    curl_multi_perform(multi, &running);
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
      Slot *s;
      long status = 0;
      if (msg->msg != CURLMSG_DONE) continue;
      if (msg->data.result != CURLE_OK) die(curl_easy_strerror(msg->data.result));
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status != 200) die("status is not 200");
      curl_multi_remove_handle(multi, s->easy);
      decode(L, s);
      s->body.len = 0;
      done++;
      if (started < total) {
        curl_multi_add_handle(multi, s->easy);     /* same handle: keeps its connection */
        started++;
      }
    }
  }
  printf("rps %.1f\n", (double)total / (now() - t0));
  for (long i = 0; i < conc; i++) {
    curl_easy_cleanup(slots[i].easy);
    free(slots[i].body.data);
  }
  free(slots);
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  lua_close(L);
  return 0;
}
