/*
 * evalua.h -- declarations shared by the C core.
 *
 * The core is a scheduler that resumes Lua coroutines (sched.c) when their one
 * pending wait ends: a timer (timer.c), an HTTP transfer (transfer.c: the libcurl
 * engine; http_lua.c: its Lua side; trace.c: the -v trace), a join or a queue; plus
 * pure helpers (duration.c, retry.c, redact.c) that are unit-tested on their own.
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
int luaopen_evalua_duration(lua_State *L);

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
/* What a libcurl error code means: the error kind, and whether trying again may help. */
const char *retry_classify(int curlcode);
int retry_transient(int curlcode);
int method_is_idempotent(const char *method);

/* ---- redact.c: secrets never printed ---- */
/* A multi-pattern matcher (Aho-Corasick): add patterns, build once, then mask texts. */
typedef struct Matcher Matcher;
Matcher *matcher_new(void);
void matcher_add(Matcher *m, const char *pattern, size_t n);
void matcher_build(Matcher *m);
/* A malloc'd copy of text with each occurrence of a pattern (overlapping ones as one) as "***". */
char *matcher_mask(const Matcher *m, const char *text, size_t len, size_t *outlen);
void matcher_free(Matcher *m);
/* Adds a secret in every form an output may hold it in (cased, HTML, JSON, URL...). */
void redact_add_forms(Matcher *m, const char *secret, size_t n);
/* Registers a secret for the life of the process. */
void redact_add(const char *secret);
/* Registers a secret until as many redact_release calls (tokens). */
void redact_hold(const char *secret);
void redact_release(const char *secret);
size_t redact_count(void);
/* Returns a malloc'd copy of text with every registered secret, in any form, replaced by "***". */
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

/* ---- sched.c: tasks are coroutines resumed by the loop ----
 * A task has at most one pending wait. A wait is begun with sched_check_wait (every
 * check that can fail, before any side effect), registered with sched_wait (which
 * yields), and ended in the continuation with sched_end_wait. Whatever wakes the task
 * -- its event, its own timeout, its deadline, a cancellation -- runs the wait's
 * cleanup first, so nothing it registered outlives it. */
typedef struct Task Task;

enum { WAKE_EVENT, WAKE_TIMEOUT, WAKE_DEADLINE, WAKE_CANCEL };

typedef struct WaitOps {
  const char *what;                  /* "sleep", "join", "http", ... (diagnostics) */
  void (*cleanup)(Task *t, void *data);   /* withdraw what the wait registered; may be NULL */
} WaitOps;

Task *sched_current(void);
/* Raise (as a Lua error) unless the running code may wait now: inside a task, every
 * coroutine between it and the scheduler yieldable, no cancellation pending, the
 * task's deadline not passed. Call before any side effect of a wait. */
void sched_check_wait(lua_State *L);
/* Register the current task's wait and yield; k runs when the task is resumed.
 * `until` is the wait's own end (monotonic seconds, HUGE_VAL for none). */
int sched_wait(lua_State *L, const WaitOps *ops, void *data, double until, lua_KContext ctx, lua_KFunction k);
/* In the continuation: WAKE_EVENT or WAKE_TIMEOUT; a cancellation or a passed
 * deadline is raised here (the wait's cleanup has already run). */
int sched_end_wait(lua_State *L);
/* Wake a task from its wait (idempotent: a task not waiting is left alone). */
void sched_wake(Task *t, int reason);
/* The current task's deadline (monotonic seconds, HUGE_VAL for none). */
double sched_deadline(const Task *t);
/* Raise a structured error: fields table on top of the stack -> errors.new(fields). */
int sched_raise(lua_State *L);
int luaopen_evalua_sched(lua_State *L);
void sched_interrupt(void);

/* ---- transfer.c: the curl multi engine (pool, admission, retries, redirects) ---- */
typedef struct Buf {
  char *data;
  size_t len, cap;
} Buf;
int buf_append(Buf *b, const char *data, size_t len);
int buf_reserve(Buf *b, size_t extra);
void buf_free(Buf *b);

enum { REQ_NEW, REQ_QUEUED, REQ_ACTIVE, REQ_RETRY_WAIT, REQ_DONE, REQ_CANCELLED };

typedef struct Request {
  int state;
  Task *task;                 /* the task waiting for it; NULL once done or cancelled */
  void *easy;                 /* CURL *, only while admitted */
  struct Easy *handle;        /* transfer.c's pooled handle that easy belongs to */
  struct curl_slist *headers;
  int shared_headers;         /* headers belong to the template the request was made from */
  char *method, *url, *body;
  size_t body_len;
  Buf resp_body, resp_head;
  RetryPolicy retry;
  int attempt, redirects;
  int same_origin_only;       /* refuse any redirect to another origin (token endpoints) */
  int too_large;
  size_t max_body;
  double timeout, connect_timeout, deadline;
  int insecure;
  int compressed;             /* send Accept-Encoding (gzip, deflate, br) */
  int decode_json;            /* decode a 2xx body as it arrives (decode = "json") */
  /* where such a body goes (http_lua.c's JSON stream): fed after each curl_multi_perform,
   * outside libcurl's callbacks, and restarted with every attempt */
  void *sink;
  void (*sink_feed)(struct Request *r);
  void (*sink_reset)(struct Request *r);
  int streaming;              /* 1: this attempt's body goes to the sink; 2: and it failed */
  int body_started;
  int fed_listed;
  struct Request *next_fed;
  size_t received;            /* body bytes of this attempt */
  char head[64];              /* its first bytes (for messages: the body may not be kept) */
  double started, elapsed;    /* elapsed: until the outcome was delivered */
  double attempt_began, attempt_end, connect_end;   /* this attempt's limits (monotonic) */
  Timer retry_timer;
  Timer attempt_timer;        /* fires at this attempt's connect or total limit */
  struct Request *next_waiting;   /* admission queue */
  /* outcome */
  int failed;                 /* 1: transport error (code, kind, message below) */
  int code;                   /* CURLcode */
  long status;
  const char *kind;
  char *message;              /* malloc'd; NULL: curl_easy_strerror(code) */
  int retryable;
  int deadline_limits;        /* this attempt's time was cut to what was left of the deadline */
  int deadline_hit;           /* the request failed because of the deadline */
} Request;

void transfer_init_request(Request *r);   /* before anything else is set */
int transfer_init(void);
void transfer_shutdown(void);
/* Admit the request now or queue it (no easy handle is taken while it queues). */
void transfer_start(Request *r);
/* Withdraw the request wherever it is (queue, multi handle, retry timer). */
void transfer_cancel(Request *r);
/* Free what the request owns (it must not be in flight). */
void transfer_release(Request *r);
/* Once done: free what only sending needed; the response's buffers, method and URL stay. */
void transfer_trim(Request *r);
int transfer_active(void);
void transfer_poll(double wait);
void transfer_wakeup(void);
void transfer_set_max_host_connections(long n);
void transfer_set_user_agent(const char *ua);
int transfer_url_origin_same(const char *a, const char *b);

/* ---- http_lua.c: the module evalua.transfer (send, prepare, configure, url_check, responses) ---- */
int luaopen_evalua_transfer(lua_State *L);

/* ---- version.c: the module evalua.version ---- */
int luaopen_evalua_version(lua_State *L);

/* ---- trace.c: the -v trace on stderr, secrets redacted ---- */
extern int trace_on;
void trace_request(const Request *r);
void trace_header(const char *prefix, const char *line, size_t len);
void trace_note(const char *fmt, ...);
int http_find_header(const char *head, size_t len, const char *name, char *out, size_t outlen);
/* Push the header block as a table: lowercase names, trimmed values, repeats joined by ", ". */
void http_push_headers(lua_State *L, const char *head, size_t len);

/* ---- auth.c ---- */
long base64url_decode(const char *in, size_t n, char *out, size_t cap);
int luaopen_evalua_token(lua_State *L);
void auth_shutdown(void);

/* ---- json.c ---- */
int luaopen_evalua_json(lua_State *L);
/* Decode len bytes of JSON: pushes the value and returns 1, or pushes the error message
 * ("json.decode: ... at character N") and returns 0. Raises only when out of memory. */
int json_decode_buffer(lua_State *L, const char *data, size_t len);
/* The same, a piece at a time: init pushes the decoder's state onto L (nothing else may
 * use L's stack above it until the end); each feed reads on (final: nothing follows) and
 * returns 1 when the document is complete (its value on top of L), 0 when it needs more
 * text -- *used bytes were consumed, the rest must be given again at the start of the
 * next feed -- or -1 with the error message pushed. Raises only when out of memory. */
typedef struct JsonDecoder JsonDecoder;
size_t json_decoder_size(void);
void json_decoder_init(JsonDecoder *d, lua_State *L);
int json_decoder_feed(JsonDecoder *d, const char *data, size_t len, int final, size_t *used);
/* A document decoded from a buffer that fills over time, on a thread of its own (errors,
 * even out of memory, stay there). new pushes the stream (a json.decoder userdata: keep
 * it alive). consume reads what b holds and removes what it consumed (final: b holds
 * the rest of the document); it returns 1 once the document is complete, 0 while more
 * is needed, -1 after an error. push_result pushes the value or the error message. */
typedef struct JsonStream JsonStream;
JsonStream *json_stream_new(lua_State *L);
void json_stream_reset(JsonStream *s);
int json_stream_status(const JsonStream *s);
int json_stream_consume(lua_State *from, JsonStream *s, Buf *b, int final);
void json_stream_push_result(lua_State *L, JsonStream *s);

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
