/*
 * test_core.c -- unit tests of the C core's pure functions, reported as TAP.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "evalua.h"

static int count, failures;

static void ok(int cond, const char *name) {
  count++;
  if (!cond) failures++;
  printf("%s %d - %s\n", cond ? "ok" : "not ok", count, name);
}

static void near(double got, double want, const char *name) {
  int good = fabs(got - want) < 1e-9;
  ok(good, name);
  if (!good) printf("#   got %.9f, expected %.9f\n", got, want);
}

static double parsed(const char *text) {
  double v = -12345;
  return duration_parse(text, &v) == 0 ? v : -1;
}

static void test_duration(void) {
  near(parsed("500ms"), 0.5, "duration: 500ms");
  near(parsed("30s"), 30, "duration: 30s");
  near(parsed("10m"), 600, "duration: 10m");
  near(parsed("1h"), 3600, "duration: 1h");
  near(parsed("1h30m"), 5400, "duration: 1h30m");
  near(parsed("1.5s"), 1.5, "duration: 1.5s");
  near(parsed("2"), 2, "duration: bare number is seconds");
  near(parsed(" 5s "), 5, "duration: surrounding spaces");
  ok(parsed("") < 0, "duration: empty is refused");
  ok(parsed("5x") < 0, "duration: unknown unit is refused");
  ok(parsed("m") < 0, "duration: unit without number is refused");
  ok(parsed("1m30") < 0, "duration: trailing bare number after a unit is refused");
  ok(parsed("-5s") < 0, "duration: negative is refused");
  ok(parsed("5 s") < 0, "duration: space inside is refused");
  ok(parsed("nan") < 0, "duration: nan is refused");
}

static void test_backoff(void) {
  RetryPolicy p;
  retry_policy_default(&p);
  ok(p.attempts == 4, "retry: default is 4 attempts (3 retries)");
  near(retry_backoff_cap(&p, 2), 0.2, "backoff: first retry cap is the base");
  near(retry_backoff_cap(&p, 3), 0.4, "backoff: doubles");
  near(retry_backoff_cap(&p, 4), 0.8, "backoff: doubles again");
  p.max_backoff = 1;
  near(retry_backoff_cap(&p, 12), 1, "backoff: capped at max_backoff");
  near(retry_backoff(&p, 3, 0), 0.2, "backoff: jitter never goes below half the cap");
  near(retry_backoff(&p, 3, 0.999999999), 0.4, "backoff: jitter reaches the cap");
  ok(retry_status_listed(&p, 503) && retry_status_listed(&p, 429), "retry: 429 and 503 are transient");
  ok(!retry_status_listed(&p, 500) && !retry_status_listed(&p, 404), "retry: 500 and 404 are not");
  ok(method_is_idempotent("GET") && method_is_idempotent("put") && method_is_idempotent("DELETE"),
     "idempotent: GET, PUT, DELETE");
  ok(!method_is_idempotent("POST") && !method_is_idempotent("PATCH"), "idempotent: not POST or PATCH");
}

static void test_retry_after(void) {
  double now = (double)curl_getdate("Mon, 23 Nov 2026 10:00:00 GMT", NULL);
  near(retry_after_parse("120", now), 120, "Retry-After: delta seconds");
  near(retry_after_parse(" 7 ", now), 7, "Retry-After: spaces around");
  near(retry_after_parse("Mon, 23 Nov 2026 10:00:30 GMT", now), 30, "Retry-After: HTTP date");
  near(retry_after_parse("Mon, 23 Nov 2026 09:59:00 GMT", now), 0, "Retry-After: past date means now");
  ok(retry_after_parse("soon", now) < 0, "Retry-After: garbage is refused");
  ok(retry_after_parse("12abc", now) < 0, "Retry-After: trailing garbage is refused");
  ok(retry_after_parse("0x1", now) < 0, "Retry-After: hexadecimal is refused (RFC 9110: digits only)");
  ok(retry_after_parse("1e0", now) < 0, "Retry-After: an exponent is refused");
  ok(retry_after_parse("1.5", now) < 0, "Retry-After: a fraction is refused");
  ok(retry_after_parse(NULL, now) < 0, "Retry-After: missing");
}

/* Checks a malloc'd result against `want`, shows it when it differs, frees it. */
static void same(char *out, size_t n, const char *want, const char *name) {
  int good = strcmp(out, want) == 0 && n == strlen(want);
  ok(good, name);
  if (!good) printf("#   got \"%s\", expected \"%s\"\n", out, want);
  free(out);
}

/* Masks `text` and compares with `want`. */
static void masks(const char *text, const char *want, const char *name) {
  size_t n;
  char *out = redact_dup(text, strlen(text), &n);
  same(out, n, want, name);
}

static void url_masks(const char *url, const char *want, const char *name) {
  char *out = redact_url(url);
  same(out, strlen(out), want, name);
}

static void test_redact(void) {
  redact_add("s3cr3t-value");
  redact_add("abc");                         /* too short to be masked */
  masks("key=s3cr3t-value&x=abc", "key=***&x=abc", "redact: secret masked, short values left alone");
  redact_add("s3cr3t-value-longer");
  masks("s3cr3t-value-longer!", "***!", "redact: the longest matching secret wins");
  masks("nothing here", "nothing here", "redact: text without secrets unchanged");
  url_masks("https://bob:hunter2@example.com:8443/p?q=1&api_key=abc&Token=xyz#frag",
            "https://bob:***@example.com:8443/p?q=1&api_key=***&Token=***#frag",
            "redact_url: password and credential parameters masked");
  url_masks("http://host/a?keyword=x&s3cr3t-value-longer", "http://host/a?keyword=x&***",
            "redact_url: other parameters kept, secrets masked");
  url_masks("http://u@host/x", "http://u@host/x", "redact_url: a user without password is kept");
  url_masks("https://cdn.example/f?access_token=abc&X-Amz-Signature=ff&signature=z&n=1",
            "https://cdn.example/f?access_token=***&X-Amz-Signature=***&signature=***&n=1",
            "redact_url: access_token and signatures masked");
  redact_clear();
}

static void test_redact_forms(void) {
  redact_add("Ab&<c>\"d'e\\f$g%h+i j/k#");
  masks("[Ab&<c>\"d'e\\f$g%h+i j/k#]", "[***]", "forms: as given");
  masks("[ab&<c>\"d'e\\f$g%h+i j/k#]", "[***]", "forms: lower-cased");
  masks("[AB&<C>\"D'E\\F$G%H+I J/K#]", "[***]", "forms: upper-cased");
  masks("[Ab&amp;&lt;c&gt;&quot;d&#39;e\\f$g%h+i j/k#]", "[***]", "forms: HTML with &#39;");
  masks("[Ab&amp;&lt;c&gt;&quot;d&#x27;e\\f$g%h+i j/k#]", "[***]", "forms: HTML with &#x27;");
  masks("[ab&amp;&lt;c&gt;&quot;d&#39;e\\f$g%h+i j/k#]", "[***]", "forms: lower-cased, then HTML");
  masks("[Ab&amp;&lt;c&gt;\"d'e\\f$g%h+i j/k#]", "[***]", "forms: HTML, quotes bare");
  masks("[Ab&<c>\\\"d'e\\\\f$g%h+i j/k#]", "[***]", "forms: JSON");
  masks("[Ab&<c>\\\"d'e\\\\f$g%h+i j\\/k#]", "[***]", "forms: JSON with \\/");
  masks("[Ab&<c>\"d'e\\\\f$g%h+i j/k\\#]", "[***]", "forms: TAP description");
  masks("[Ab&amp;&lt;c&gt;\\&quot;d&#39;e\\\\f$g%h+i j/k#]", "[***]", "forms: JSON inside HTML");
  masks("[Ab%26%3Cc%3E%22d%27e%5Cf%24g%25h%2Bi+j%2Fk%23]", "[***]", "forms: form-encoded, upper hex");
  masks("[Ab%26%3cc%3e%22d%27e%5cf%24g%25h%2bi%20j%2fk%23]", "[***]", "forms: percent-encoded, lower hex");
  masks("[Ab%26%3Cc%3E%22d'e%5Cf%24g%25h%2Bi%20j%2Fk%23]", "[***]", "forms: encodeURIComponent");
  masks("[AB%26%3CC%3E%22D%27E%5CF%24G%25H%2BI+J%2FK%23]", "[***]", "forms: upper-cased, then encoded");
  masks("[Ab&<c>\"d'e\\f$g%h+i j/k]", "[Ab&<c>\"d'e\\f$g%h+i j/k]", "forms: a part is not the secret");
  redact_clear();

  redact_add("abcdef");
  redact_add("defghi");
  masks("xabcdefghix", "x***x", "overlapping secrets: masked as one");
  masks("abcdefabcdef", "******", "adjacent occurrences: one mask each");
  redact_clear();

  redact_hold("tok-12345");
  redact_hold("tok-12345");
  redact_add("perm-12345");
  redact_hold("perm-12345");
  ok(redact_count() == 2, "hold: a value is registered once");
  redact_release("tok-12345");
  masks("tok-12345", "***", "hold: masked while a hold remains");
  redact_release("tok-12345");
  masks("tok-12345", "tok-12345", "hold: unmasked after the last release");
  redact_release("perm-12345");
  ok(redact_count() == 1, "hold: a permanent value stays");
  redact_clear();
}

static int fired[8], nfired;
static void record(Timer *t) { fired[nfired++] = (int)t->when; }

static void test_timers(void) {
  Timer t[5];
  int whens[5] = {5, 1, 4, 2, 3};
  for (int i = 0; i < 5; i++) {
    timer_init(&t[i], record);
    timer_arm(&t[i], whens[i]);
  }
  timer_disarm(&t[2]);                       /* the one due at 4 */
  ok(timer_count() == 4, "timers: disarm removes one");
  near(timer_next_wait(0), 1, "timers: next wait is the earliest");
  timer_fire_expired(3.5);
  ok(nfired == 3 && fired[0] == 1 && fired[1] == 2 && fired[2] == 3, "timers: fire in deadline order");
  timer_fire_expired(10);
  ok(nfired == 4 && fired[3] == 5 && timer_count() == 0, "timers: the rest fire, none left");
  ok(timer_next_wait(0) < 0, "timers: none armed");
  timer_shutdown();
}

static void test_base64url(void) {
  char out[64];
  long n = base64url_decode("eyJleHAiOjF9", 12, out, sizeof out);
  ok(n == 9 && memcmp(out, "{\"exp\":1}", 9) == 0, "base64url: decodes without padding");
  n = base64url_decode("_-8", 3, out, sizeof out);
  ok(n == 2 && (unsigned char)out[0] == 0xff && (unsigned char)out[1] == 0xef, "base64url: - and _ alphabet");
  ok(base64url_decode("ab$d", 4, out, sizeof out) < 0, "base64url: invalid character refused");
  ok(base64url_decode("QUFBQUFB", 8, out, 3) < 0, "base64url: output bound respected");
}

/* json_decode_buffer reads exactly len bytes: the buffers are not NUL-terminated. */
static void test_json_buffer(void) {
  static const char body[] = "[12,{\"k\":[]}]garbage 1.5e9";
  lua_State *L = luaL_newstate();
  int top;
  ok(json_decode_buffer(L, body, 13) == 1 && lua_istable(L, -1) && lua_gettop(L) == 1,
     "json buffer: decodes the first len bytes, one value pushed");
  if (lua_istable(L, 1)) lua_rawgeti(L, 1, 1);
  ok(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 12, "json buffer: 12 is an integer");
  lua_settop(L, 0);
  ok(json_decode_buffer(L, body, 3) == 0 && lua_gettop(L) == 1 &&
     strstr(lua_tostring(L, -1), "at character 4 (the end of the text)") != NULL,
     "json buffer: cut inside an array -> 0 and the message naming the end");
  lua_settop(L, 0);
  ok(json_decode_buffer(L, body + 1, 1) == 1 && lua_tointeger(L, -1) == 1,
     "json buffer: a number ending at the buffer's end");
  lua_settop(L, 0);
  ok(json_decode_buffer(L, body + 21, 3) == 1 && lua_tonumber(L, -1) == 1.5 && !lua_isinteger(L, -1),
     "json buffer: a float ending at the buffer's end (\"1.5\" of \"1.5e9\")");
  lua_settop(L, 0);
  top = lua_gettop(L);
  ok(json_decode_buffer(L, "\"ab", 2) == 0 && lua_gettop(L) == top + 1, "json buffer: unterminated string refused");
  lua_close(L);
}

/* The allocator glue: a Lua state on alloc_lua() grows, shrinks and closes; curl starts. */
static void test_alloc(void) {
  lua_State *L = lua_newstate(alloc_lua(), NULL);
  char *escaped;
  ok(L != NULL, "alloc: a Lua state on alloc_lua()");
  if (L == NULL) return;
  lua_createtable(L, 100000, 0);
  for (int i = 1; i <= 100000; i++) {
    lua_pushinteger(L, i);
    lua_rawseti(L, -2, i);
  }
  lua_pushfstring(L, "%d", 12345);
  ok(lua_rawlen(L, -2) == 100000 && strcmp(lua_tostring(L, -1), "12345") == 0, "alloc: tables and strings grow");
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  ok(lua_gc(L, LUA_GCCOUNT) < 64, "alloc: a full collection frees the table (the free path)");
  lua_close(L);
  ok(alloc_install_curl() == 0, "alloc: curl starts on the same allocator");
  escaped = curl_easy_escape(NULL, "a b", 3);
  ok(escaped != NULL && strcmp(escaped, "a%20b") == 0, "alloc: curl allocates through it");
  curl_free(escaped);
  curl_global_cleanup();
}

int main(void) {
  test_duration();
  test_backoff();
  test_retry_after();
  test_redact();
  test_redact_forms();
  test_timers();
  test_base64url();
  test_json_buffer();
  test_alloc();
  printf("1..%d\n", count);
  return failures ? 1 : 0;
}
