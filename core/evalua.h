/*
 * evalua.h -- declarations shared by the C core.
 *
 * The core is a scheduler that resumes Lua coroutines (sched.c) when their timers
 * (timer.c) or HTTP transfers (http.c) complete, plus pure helpers (duration.c,
 * retry.c, redact.c) that are unit-tested on their own.
 */
#ifndef EVALUA_H
#define EVALUA_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>

#define EVALUA_VERSION "0.1.0"

/* Lua 5.4.4 has lua_resetthread; 5.4.6 renamed it lua_closethread. */
#if LUA_VERSION_RELEASE_NUM >= 50406
#define evalua_closethread(L, from) lua_closethread((L), (from))
#else
#define evalua_closethread(L, from) ((void)(from), lua_resetthread(L))
#endif

/* ---- duration.c: "500ms", "30s", "10m", "1h30m", or plain seconds ---- */
/* Returns 0 and sets *seconds on success, -1 on a malformed string. */
int duration_parse(const char *text, double *seconds);
/* Lua: accept a number or duration string at index idx; raise a bad-argument error otherwise. */
double duration_check(lua_State *L, int idx);
double duration_opt(lua_State *L, int idx, double def);
int duration_lua_parse(lua_State *L);

/* ---- retry.c: backoff arithmetic and Retry-After ---- */
typedef struct RetryPolicy {
  int attempts;          /* total attempts, including the first */
  double backoff;        /* base delay, seconds */
  double max_backoff;    /* cap on one delay, seconds */
  int idempotent;        /* -1: decide from the method; 0/1: the caller said so */
  int statuses[16];      /* statuses worth retrying */
  int nstatuses;
} RetryPolicy;

void retry_policy_default(RetryPolicy *p);
/* Upper bound of the delay before attempt `attempt` (2 = first retry). */
double retry_backoff_cap(const RetryPolicy *p, int attempt);
/* The delay actually used: half the cap plus a random share of the other half. */
double retry_backoff(const RetryPolicy *p, int attempt, double unit_random);
/* Parse a Retry-After value (delta seconds or HTTP date) into seconds from `now_epoch`.
 * Returns -1 when the value is not understood. */
double retry_after_parse(const char *value, double now_epoch);
int retry_status_listed(const RetryPolicy *p, int status);
int method_is_idempotent(const char *method);

/* ---- redact.c: secrets never printed ---- */
void redact_add(const char *secret);
/* Returns a malloc'd copy of text with every registered secret replaced by "***". */
char *redact_dup(const char *text, size_t len, size_t *outlen);
void redact_clear(void);
/* redact_dup for URLs: also masks user:password@ and credential query parameters. */
char *redact_url(const char *url);
int luaopen_evalua_redact(lua_State *L);

/* ---- timer.c: a min-heap of deadlines ---- */
typedef struct Timer {
  double when;                 /* monotonic seconds */
  size_t index;                /* position in the heap, (size_t)-1 when not armed */
  void (*fire)(struct Timer *);
} Timer;

double clock_now(void);
void timer_init(Timer *t, void (*fire)(Timer *));
void timer_arm(Timer *t, double when);
void timer_disarm(Timer *t);
int timer_armed(const Timer *t);
/* Seconds until the earliest timer, or -1 when none is armed. */
double timer_next_wait(double now);
void timer_fire_expired(double now);
size_t timer_count(void);
void timer_shutdown(void);

/* ---- sched.c: tasks are coroutines resumed by the loop ---- */
typedef struct Task Task;
struct Request;

Task *sched_current(void);
/* Make a suspended task runnable; the values on its stack are its resume values. */
void sched_wake(Task *t, int nargs);
lua_State *sched_thread(Task *t);
/* Record what the task waits on, so cancellation can withdraw it. */
void sched_set_request(Task *t, struct Request *r);
int luaopen_evalua_core(lua_State *L);
void sched_interrupt(void);

/* ---- http.c ---- */
int http_init(void);
void http_shutdown(void);
int http_active(void);
/* Wait for network activity at most `wait` seconds, then process it. */
void http_poll(double wait);
void http_wakeup(void);
void http_cancel(struct Request *r);
int http_send(lua_State *L);      /* core.http_send(spec) */
int http_configure(lua_State *L); /* core.http_configure(opts) */
int http_url_check(lua_State *L);  /* core.url_check(url) */
void http_set_verbose(int on);
int http_find_header(const char *head, size_t len, const char *name, char *out, size_t outlen);
const char *http_curl_version(void);

/* ---- auth.c ---- */
long base64url_decode(const char *in, size_t n, char *out, size_t cap);
void auth_register(lua_State *L, int decode);
void auth_shutdown(void);

/* ---- json.c ---- */
int luaopen_evalua_json(lua_State *L);
/* Decode len bytes of JSON: pushes the value and returns 1, or pushes the error message
 * ("json.decode: ... at character N") and returns 0. Raises only when out of memory. */
int json_decode_buffer(lua_State *L, const char *data, size_t len);

/* ---- fs.c ---- */
int luaopen_evalua_fs(lua_State *L);

/* ---- readline.c ---- */
int luaopen_evalua_readline(lua_State *L);

/* ---- embedded.c (generated): the lua/ tree compiled into the binary ---- */
typedef struct EmbeddedModule {
  const char *name;   /* "evalua.http" */
  const char *path;   /* "lua/evalua/http.lua" */
  const unsigned char *source;
  size_t size;
} EmbeddedModule;
extern const EmbeddedModule embedded_modules[];

/* ---- alloc.c: Lua's and libcurl's allocator (mimalloc in release builds) ---- */
lua_Alloc alloc_lua(void);
/* curl_global_init(CURL_GLOBAL_DEFAULT) with curl allocating through the same allocator;
 * call it instead of curl_global_init. Returns 0, or -1 when libcurl fails to start. */
int alloc_install_curl(void);

/* ---- state.c ---- */
lua_State *state_new(void);

#endif
