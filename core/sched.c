/*
 * sched.c -- the scheduler: every script body, task, test and REPL line is a Lua
 * coroutine (a Task) that runs until it waits. A task has at most one pending wait
 * (sleep, join, park on a queue, HTTP transfer), recorded here with a cleanup; whatever
 * ends the wait -- its event, its own timeout, the task's deadline, a cancellation --
 * runs the cleanup first, so nothing a wait registered can outlive it or wake the task
 * twice. Waits are C functions that yield with a continuation (lua_yieldk), as
 * OpenResty's cosockets do; the continuation raises a cancellation or a passed deadline
 * as a Lua error, so `<close>` variables and pcall cleanups run on the way out.
 *
 * Code that never waits is reached through a count hook set from a signal handler
 * (lua.c's own Ctrl-C technique): SIGINT/SIGTERM, and a 100 ms watchdog for tasks past
 * their deadline. A bare coroutine.yield at a task's top level lets others run.
 */
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "evalua.h"

enum { TASK_READY = 1, TASK_RUNNING, TASK_SUSPENDED };

typedef struct TaskQueue {
  Task *head, *tail;
} TaskQueue;

struct Task {
  lua_State *co;
  int ref;                 /* registry reference that keeps the thread alive */
  int nargs;               /* values on co's stack for its first resume */
  int state;
  int started;             /* resumed at least once */
  int bare_yield;          /* ready after a plain coroutine.yield, not a wait */
  /* the one pending wait */
  const WaitOps *wait;     /* NULL when not waiting */
  void *wait_data;
  double wait_until;       /* the wait's own end, HUGE_VAL for none */
  int reason;              /* why the last wait ended */
  Timer timer;             /* fires at min(wait_until, deadline) */
  double deadline;         /* HUGE_VAL for none */
  int cancel_pending;      /* cancelled while ready or running: raised at the next chance */
  TaskQueue joiners;       /* tasks in sched.join on this one */
  TaskQueue *queue;        /* the queue this task is parked on, if any */
  Task *qprev, *qnext;
  Task *next_ready;
  Task *prev, *next;       /* all live tasks */
};

static Task *ready_head, *ready_tail;
static Task *live;
static size_t live_count;
/* Read by signal handlers: the running task and the innermost thread running Lua. */
static Task *volatile current;
static lua_State *volatile running;
static volatile sig_atomic_t interrupted, interrupts;
static int interactive;           /* the REPL: Ctrl-C never ends the process */
static lua_State *main_L;
static volatile sig_atomic_t watchdog_armed;
static volatile unsigned long resumes;   /* counts resumes, for the watchdog */

/* Threads between a task and the innermost user coroutine (sched.resume forwards the
 * scheduler's yields through them), and whether each resumer could yield. */
#define CHAIN_MAX 200
static struct { lua_State *co; int resumer_yieldable; } chain[CHAIN_MAX];
static int chain_len;

/* Private marker a waiting task yields, so the loop can tell a wait from a plain
 * coroutine.yield at a task's top level. */
static char suspend_marker;
#define MARKER ((void *)&suspend_marker)

static Task **task_slot(lua_State *co) { return (Task **)lua_getextraspace(co); }
static Task *task_of(lua_State *co) { return *task_slot(co); }

Task *sched_current(void) { return current; }
double sched_deadline(const Task *t) { return t->deadline; }

/* ---- queues of tasks (joiners, parked tasks) ---- */

static void queue_push(TaskQueue *q, Task *t) {
  t->queue = q;
  t->qnext = NULL;
  t->qprev = q->tail;
  if (q->tail) q->tail->qnext = t;
  else q->head = t;
  q->tail = t;
}

static void queue_remove(Task *t) {
  TaskQueue *q = t->queue;
  if (q == NULL) return;
  if (t->qprev) t->qprev->qnext = t->qnext;
  else q->head = t->qnext;
  if (t->qnext) t->qnext->qprev = t->qprev;
  else q->tail = t->qprev;
  t->queue = NULL;
  t->qprev = t->qnext = NULL;
}

static void queue_cleanup(Task *t, void *data) {
  (void)data;
  queue_remove(t);
}

/* ---- the ready list ---- */

static void enqueue(Task *t) {
  t->state = TASK_READY;
  t->next_ready = NULL;
  if (ready_tail) ready_tail->next_ready = t;
  else ready_head = t;
  ready_tail = t;
}

void sched_wake(Task *t, int reason) {
  const WaitOps *ops;
  if (t == NULL || t->state != TASK_SUSPENDED || t->wait == NULL) return;
  ops = t->wait;
  t->wait = NULL;
  timer_disarm(&t->timer);
  if (ops->cleanup) ops->cleanup(t, t->wait_data);
  t->wait_data = NULL;
  t->reason = reason;
  enqueue(t);
}

static void timer_wake(Timer *timer) {
  Task *t = (Task *)((char *)timer - offsetof(Task, timer));
  sched_wake(t, t->deadline <= t->wait_until ? WAKE_DEADLINE : WAKE_TIMEOUT);
}

/* ---- errors raised by waits ---- */

/* Fields table on top -> errors.new(fields), raised. The factory is registered by
 * lua/evalua/task.lua so that C raises the same objects Lua code does. */
int sched_raise(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "evalua.error_factory");
  if (lua_isfunction(L, -1)) {
    lua_insert(L, -2);
    lua_call(L, 1, 1);
  } else {
    lua_pop(L, 1);
  }
  return lua_error(L);
}

static void push_fields(lua_State *L, const char *kind, const char *message) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
}

static int raise_cancelled(lua_State *L, const char *message) {
  push_fields(L, "cancelled", message);
  return sched_raise(L);
}

static int raise_deadline(lua_State *L, double deadline) {
  push_fields(L, "timeout", "deadline exceeded");
  lua_pushnumber(L, deadline);
  lua_setfield(L, -2, "deadline");
  return sched_raise(L);
}

/* ---- waits ---- */

/* "file:line: " of the innermost frame outside evalua's own Lua code: errors name the
 * user's line, however deep in the library the check ran (errors.where in Lua). */
static void push_user_where(lua_State *L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar)) break;
    if (ar.currentline > 0 && strstr(ar.source, "lua/evalua/") == NULL) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

static void wait_error(lua_State *L, const char *msg) {
  push_user_where(L);
  lua_pushstring(L, msg);
  lua_concat(L, 2);
  lua_error(L);
}

void sched_check_wait(lua_State *L) {
  Task *t = current;
  if (t == NULL) wait_error(L, "evalua: waiting is only possible inside a task (script, test or task.spawn)");
  if (!lua_isyieldable(L) || (chain_len == 0 ? L != t->co : L != chain[chain_len - 1].co))
    wait_error(L, "evalua: cannot wait here: the call runs inside a metamethod, iterator or C "
                  "function that cannot yield (move the I/O out of it)");
  for (int i = 0; i < chain_len; i++)
    if (!chain[i].resumer_yieldable)
      wait_error(L, "evalua: cannot wait here: a coroutine on the way to the scheduler was resumed "
                    "from code that cannot yield (a metamethod, iterator or C function)");
  if (t->cancel_pending) {
    t->cancel_pending = 0;
    raise_cancelled(L, "task cancelled");
  }
  if (t->deadline <= clock_now()) raise_deadline(L, t->deadline);
}

int sched_wait(lua_State *L, const WaitOps *ops, void *data, double until, lua_KContext ctx, lua_KFunction k) {
  Task *t = current;
  double when = until < t->deadline ? until : t->deadline;
  t->wait = ops;
  t->wait_data = data;
  t->wait_until = until;
  if (when < HUGE_VAL) timer_arm(&t->timer, when);
  lua_pushlightuserdata(L, MARKER);
  return lua_yieldk(L, 1, ctx, k);
}

int sched_end_wait(lua_State *L) {
  Task *t = current;
  int reason = t->reason;
  t->reason = WAKE_EVENT;
  /* A cancellation that came after the wait's event stays pending for the next wait:
   * the event (a response, a finished task, a semaphore permit) is not lost. */
  if (reason == WAKE_CANCEL) {
    t->cancel_pending = 0;
    raise_cancelled(L, "task cancelled");
  }
  if (reason == WAKE_DEADLINE) raise_deadline(L, t->deadline);
  return reason;
}

/* sched.sleep(seconds) */
static const WaitOps sleep_ops = {"sleep", NULL};

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  sched_end_wait(L);
  return 0;
}

static int l_sleep(lua_State *L) {
  double secs = duration_check(L, 1);
  sched_check_wait(L);
  return sched_wait(L, &sleep_ops, NULL, clock_now() + secs, 0, sleep_k);
}

/* A wait's own timeout argument: nil for none. */
static double opt_until(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return HUGE_VAL;
  return clock_now() + duration_check(L, idx);
}

static int bool_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_pushboolean(L, sched_end_wait(L) == WAKE_EVENT);
  return 1;
}

/* sched.join(thread [, timeout]) -> true when the task ended, false on timeout */
static const WaitOps join_ops = {"join", queue_cleanup};

static int l_join(lua_State *L) {
  Task *target;
  double until;
  luaL_checktype(L, 1, LUA_TTHREAD);
  until = opt_until(L, 2);
  target = task_of(lua_tothread(L, 1));
  sched_check_wait(L);
  if (target == NULL) {               /* already ended */
    lua_pushboolean(L, 1);
    return 1;
  }
  if (target == current) return luaL_error(L, "a task cannot wait for itself");
  queue_push(&target->joiners, current);
  return sched_wait(L, &join_ops, NULL, until, 0, bool_k);
}

/* sched.queue() -> a queue tasks can park on (semaphores, events) */
static int l_queue(lua_State *L) {
  TaskQueue *q = lua_newuserdatauv(L, sizeof *q, 0);
  q->head = q->tail = NULL;
  luaL_setmetatable(L, "evalua.queue");
  return 1;
}

/* sched.park(queue [, timeout]) -> true when unparked, false on timeout */
static const WaitOps park_ops = {"park", queue_cleanup};

static int l_park(lua_State *L) {
  TaskQueue *q = luaL_checkudata(L, 1, "evalua.queue");
  double until = opt_until(L, 2);
  sched_check_wait(L);
  queue_push(q, current);
  return sched_wait(L, &park_ops, NULL, until, 0, bool_k);
}

/* sched.unpark(queue [, n]) -> the threads woken (first n, default 1; 0 means all) */
static int l_unpark(lua_State *L) {
  TaskQueue *q = luaL_checkudata(L, 1, "evalua.queue");
  lua_Integer n = luaL_optinteger(L, 2, 1), woken = 0;
  lua_settop(L, 2);
  while (q->head && (n <= 0 || woken < n)) {
    Task *t = q->head;
    /* From the registry, never through the parked thread's own stack: a suspended
     * coroutine may have no free slot, and waking all of a long queue pushes many. */
    luaL_checkstack(L, 1, "too many tasks woken at once");
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    sched_wake(t, WAKE_EVENT);          /* the cleanup unlinks it */
    woken++;
  }
  return (int)woken;
}

/* ---- tasks ---- */

static void task_free(Task *t) {
  if (t->wait) {
    const WaitOps *ops = t->wait;
    t->wait = NULL;
    if (ops->cleanup) ops->cleanup(t, t->wait_data);
  }
  timer_disarm(&t->timer);
  queue_remove(t);
  while (t->joiners.head) {
    Task *j = t->joiners.head;
    if (j->state == TASK_SUSPENDED && j->wait == &join_ops) sched_wake(j, WAKE_EVENT);
    else queue_remove(j);
  }
  if (t->state == TASK_READY) {         /* unlink from the ready list */
    Task **p = &ready_head, *prev = NULL;
    while (*p && *p != t) prev = *p, p = &(*p)->next_ready;
    if (*p) {
      *p = t->next_ready;
      if (ready_tail == t) ready_tail = prev;
    }
  }
  if (t->prev) t->prev->next = t->next;
  else live = t->next;
  if (t->next) t->next->prev = t->prev;
  *task_slot(t->co) = NULL;
  lua_settop(t->co, 0);
  luaL_unref(main_L, LUA_REGISTRYINDEX, t->ref);
  live_count--;
  free(t);
}

/* sched.spawn(fn, ...) -> thread: fn(...) runs on the next turn of the loop */
static int l_spawn(lua_State *L) {
  int n = lua_gettop(L);
  Task *t;
  lua_State *co;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  co = lua_newthread(L);                 /* before anything that needs freeing */
  if (!lua_checkstack(co, n)) return luaL_error(L, "too many arguments to spawn");
  t = calloc(1, sizeof *t);
  if (t == NULL) return luaL_error(L, "out of memory");
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->co = co;
  t->deadline = HUGE_VAL;
  t->wait_until = HUGE_VAL;
  *task_slot(co) = t;
  timer_init(&t->timer, timer_wake);
  lua_sethook(co, NULL, 0, 0);           /* no hook inherited from the spawner */
  lua_rotate(L, 1, 1);                   /* thread below fn and args */
  lua_xmove(L, co, n);
  t->nargs = n - 1;
  t->next = live;
  if (live) live->prev = t;
  live = t;
  live_count++;
  enqueue(t);
  return 1;
}

/* Raises the pending cancellation at the task's next Lua instruction: for a task that
 * was cancelled while ready (after a bare yield) and has no wait to fail. */
static void cancel_hook(lua_State *L, lua_Debug *ar) {
  Task *t = current;
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (t && t->cancel_pending && L == t->co) {
    t->cancel_pending = 0;
    raise_cancelled(L, "task cancelled");
  }
}

/* Cancel a live task: a waiting one is woken at once, its wait withdrawn; a ready or
 * running one gets the error at its next wait or instruction. */
static void cancel_task(Task *t) {
  if (t->state == TASK_SUSPENDED && t->wait) sched_wake(t, WAKE_CANCEL);
  else t->cancel_pending = 1;
}

/* sched.cancel(thread) -> true if the task was alive. A waiting task is woken at once
 * (its wait withdrawn); a ready one gets the error at its next wait or instruction (one
 * that has not started yet, at its first wait). */
static int l_cancel(lua_State *L) {
  Task *t;
  luaL_checktype(L, 1, LUA_TTHREAD);
  t = task_of(lua_tothread(L, 1));
  if (t == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  cancel_task(t);
  lua_pushboolean(L, 1);
  return 1;
}

static void on_alarm(int sig);
static void deadline_hook(lua_State *L, lua_Debug *ar);
static void interrupt_hook(lua_State *L, lua_Debug *ar);

/* The 100 ms watchdog (SIGALRM), started the first time a task has a deadline or a
 * signal came; async-signal-safe, so a signal handler may call it. */
static void watchdog_arm(void) {
  struct sigaction sa;
  struct itimerval it = {{0, 100000}, {0, 100000}};
  if (watchdog_armed) return;
  watchdog_armed = 1;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  setitimer(ITIMER_REAL, &it, NULL);
}
static void cancel_hook(lua_State *L, lua_Debug *ar);

/* sched.deadline([when]) -> the previous deadline. Sets the running task's deadline
 * (monotonic seconds; nil or math.huge for none): every wait ends by then with a
 * `timeout` error carrying `deadline`, and so does code that never waits. */
static int l_deadline(lua_State *L) {
  Task *t = current;
  double prev;
  if (t == NULL) return luaL_error(L, "sched.deadline: not inside a task");
  prev = t->deadline;
  t->deadline = luaL_optnumber(L, 1, HUGE_VAL);
  if (t->deadline != t->deadline) t->deadline = HUGE_VAL;   /* NaN */
  if (t->deadline < HUGE_VAL) watchdog_arm();
  if (prev == HUGE_VAL) lua_pushnil(L);
  else lua_pushnumber(L, prev);
  return 1;
}

/* ---- forwarding resume for users' coroutines ---- */

static int auxstatus_ok(lua_State *L, lua_State *co) {
  if (L == co) return 0;
  switch (lua_status(co)) {
  case LUA_YIELD: return 1;
  case LUA_OK: {
    lua_Debug ar;
    if (lua_getstack(co, 0, &ar)) return 0;          /* running or normal */
    return lua_gettop(co) > 0;                       /* not started (has its function) */
  }
  default: return 0;
  }
}

static int coresume_k(lua_State *L, int status, lua_KContext ctx);

/* Resume co with the values above index `base` of L; returns as coroutine.resume. A
 * wait inside co yields the marker: pass it on to whoever resumed L and resume co
 * again with what comes back, so I/O in a coroutine.wrap works. */
static int coresume_from(lua_State *L, lua_State *co, int base) {
  int narg = lua_gettop(L) - base, nres, status;
  if (!lua_checkstack(co, narg + 1)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  lua_xmove(L, co, narg);
  if (chain_len >= CHAIN_MAX) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "evalua: coroutines nested too deeply");
    return 2;
  }
  chain[chain_len].co = co;
  chain[chain_len].resumer_yieldable = lua_isyieldable(L);
  chain_len++;
  running = co;
  status = lua_resume(co, L, narg, &nres);
  chain_len--;
  running = chain_len ? chain[chain_len - 1].co : (current ? current->co : NULL);
  if (status == LUA_YIELD && nres == 1 && lua_touserdata(co, -1) == MARKER) {
    lua_pop(co, 1);
    lua_settop(L, base);
    lua_pushlightuserdata(L, MARKER);
    return lua_yieldk(L, 1, base, coresume_k);
  }
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "too many results to resume");
      return 2;
    }
    lua_pushboolean(L, 1);
    lua_xmove(co, L, nres);
    return nres + 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);                     /* the error */
  return 2;
}

static int coresume_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return coresume_from(L, lua_tothread(L, 1), (int)ctx);
}

/* sched.resume(co, ...) -> coroutine.resume's results, forwarding evalua's waits */
static int l_resume(lua_State *L) {
  lua_State *co;
  luaL_checktype(L, 1, LUA_TTHREAD);
  co = lua_tothread(L, 1);
  if (!auxstatus_ok(L, co)) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, lua_status(co) == LUA_OK && lua_gettop(co) == 0 ? "cannot resume dead coroutine"
                                                                      : "cannot resume non-suspended coroutine");
    return 2;
  }
  return coresume_from(L, co, 1);
}

/* ---- the loop ---- */

static void report_crash(Task *t, int status) {
  /* Task bodies catch their own errors (task.lua); reaching here is an evalua bug. */
  const char *msg = lua_tostring(t->co, -1);
  luaL_traceback(main_L, t->co, msg ? msg : "(error object is not a string)", 0);
  fprintf(stderr, "evalua: internal error in a task (status %d): %s\n", status, lua_tostring(main_L, -1));
  lua_pop(main_L, 1);
}

static void resume(Task *t) {
  int nres, status, nargs = t->nargs;
  t->nargs = 0;
  if (t->bare_yield) {
    /* Ready without a wait to fail (a bare yield): the news comes at its next instruction.
     * (A wait's continuation raises it instead, after its event is accounted for.) */
    if (t->cancel_pending) lua_sethook(t->co, cancel_hook, LUA_MASKCOUNT, 1);
    else if (t->deadline < HUGE_VAL && t->deadline <= clock_now()) lua_sethook(t->co, deadline_hook, LUA_MASKCOUNT, 1);
  }
  t->bare_yield = 0;
  t->started = 1;
  resumes++;
  current = t;
  running = t->co;
  chain_len = 0;
  t->state = TASK_RUNNING;
  status = lua_resume(t->co, main_L, nargs, &nres);
  running = NULL;
  current = NULL;
  if (status == LUA_YIELD) {
    int waits = nres > 0 && lua_touserdata(t->co, -1) == MARKER && t->wait != NULL;
    lua_pop(t->co, nres);
    if (waits) t->state = TASK_SUSPENDED;
    else {                           /* a bare coroutine.yield: just let others run */
      t->bare_yield = 1;
      enqueue(t);
    }
    return;
  }
  if (status != LUA_OK) report_crash(t, status);
  task_free(t);
}

static void run_ready(void) {
  /* Run only what is ready now; tasks woken meanwhile wait for the next turn so that
   * timers and the network are never starved. */
  Task *stop = ready_tail;
  while (ready_head) {
    Task *t = ready_head;
    ready_head = t->next_ready;
    if (ready_head == NULL) ready_tail = NULL;
    t->next_ready = NULL;
    resume(t);
    if (t == stop || interrupted) break;
  }
}

/* ---- the collector's headroom ----
 * The incremental collector starts a cycle once the heap has grown `pause` percent over
 * what the last cycle left. Ten thousand waiting runs are a large, mostly live heap: there
 * a small pause saves most of what a run costs beyond its data. A small heap (a script
 * making requests) pays a low pause in CPU for no memory worth having. So while enabled
 * (sched.gc_headroom(mb)), each turn of the loop sets the pause so that the headroom is
 * `mb` MiB, but at least 20% and at most 50% of the heap: 150 below 2*mb, 120 above 5*mb. */
static double headroom_kb;               /* 0: off (the script's or the runner's settings rule) */
static int headroom_pause;

static void gc_adapt(lua_State *L) {
  double heap_kb, share;
  int pause;
  if (headroom_kb <= 0) return;
  heap_kb = (double)lua_gc(L, LUA_GCCOUNT, 0) + 1;
  share = headroom_kb / heap_kb;
  pause = 100 + (int)(100 * (share < 0.2 ? 0.2 : share > 0.5 ? 0.5 : share));
  if (pause > headroom_pause + 1 || pause < headroom_pause - 1) {
    headroom_pause = pause;
    lua_gc(L, LUA_GCINC, pause, 0, 0);
  }
}

/* sched.gc_headroom(mb | false): keep the incremental collector's headroom near mb MiB.
 * sched.gc_headroom() -> the pause it set last (0 while off or before a turn). */
static int l_gc_headroom(lua_State *L) {
  if (lua_gettop(L) > 0) {
    headroom_kb = lua_toboolean(L, 1) ? luaL_checknumber(L, 1) * 1024 : 0;
    headroom_pause = 0;
    return 0;
  }
  lua_pushinteger(L, headroom_pause);
  return 1;
}

static int thread_done(lua_State *co) {
  return task_of(co) == NULL && lua_status(co) == LUA_OK && lua_gettop(co) == 0;
}

/* sched.run([thread [, until]]) -> "done" | "interrupted" | "stuck" | "time"
 * Runs the loop until the given task finished (or every task, without one), or until
 * the monotonic time `until`. */
static int l_run(lua_State *L) {
  lua_State *until = lua_isnoneornil(L, 1) ? NULL : (luaL_checktype(L, 1, LUA_TTHREAD), lua_tothread(L, 1));
  double stop_at = luaL_optnumber(L, 2, HUGE_VAL);
  if (current != NULL) return luaL_error(L, "sched.run cannot be called inside a task");
  for (;;) {
    double wait, now;
    run_ready();
    gc_adapt(L);
    if (interrupted) {
      interrupted = 0;
      lua_pushliteral(L, "interrupted");
      return 1;
    }
    if (until ? thread_done(until) : live_count == 0) {
      lua_pushliteral(L, "done");
      return 1;
    }
    now = clock_now();
    if (now >= stop_at) {
      lua_pushliteral(L, "time");
      return 1;
    }
    wait = ready_head ? 0 : timer_next_wait(now);
    if (wait < 0 && !transfer_active() && ready_head == NULL) {
      lua_pushliteral(L, "stuck");
      return 1;
    }
    if (wait < 0 || wait > 1) wait = 1;
    if (wait > stop_at - now) wait = stop_at - now;
    if (transfer_active()) transfer_poll(wait);
    else if (wait > 0) poll(NULL, 0, (int)ceil(wait * 1000));
    timer_fire_expired(clock_now());
  }
}

/* sched.cancel_all() -> how many tasks were cancelled (Ctrl-C, shutdown) */
static int l_cancel_all(lua_State *L) {
  lua_Integer n = 0;
  for (Task *t = live; t; t = t->next, n++) cancel_task(t);
  lua_pushinteger(L, n);
  return 1;
}

/* sched.kill_all(): tasks that did not end after being cancelled are closed: their
 * pending `<close>` variables run (they cannot wait any more), then they are freed. */
static int l_kill_all(lua_State *L) {
  (void)L;
  while (live) {
    Task *t = live;
    lua_State *co = t->co;
    current = t;
    running = co;
    evalua_closethread(co, main_L);
    running = NULL;
    current = NULL;
    task_free(t);
  }
  ready_head = ready_tail = NULL;
  return 0;
}

/* sched.stats() -> {tasks, timers, requests} for diagnostics, tests and benchmarks */
static int l_stats(lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)live_count);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, (lua_Integer)timer_count());
  lua_setfield(L, -2, "timers");
  lua_pushinteger(L, transfer_active());
  lua_setfield(L, -2, "requests");
  return 1;
}

/* Stops Lua code that never waits: raises in the innermost running thread. */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  raise_cancelled(L, "interrupted");
}

static void deadline_hook(lua_State *L, lua_Debug *ar) {
  Task *t = current;
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (t && t->deadline <= clock_now()) raise_deadline(L, t->deadline);
}

/* Every 100 ms: a task past its deadline that has been running since the last tick
 * without waiting (code that never waits) is stopped at its next instruction. One that
 * merely runs late, after another hogged the loop, meets its deadline at its next wait. */
static void on_alarm(int sig) {
  static unsigned long seen;
  Task *t = current;
  lua_State *L = running;
  unsigned long now_seq = resumes;
  (void)sig;
  if (t && L && now_seq == seen) {
    if (interrupted) lua_sethook(L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    else if (t->cancel_pending && L == t->co) lua_sethook(L, cancel_hook, LUA_MASKCOUNT, 1);
    else if (t->deadline <= clock_now()) lua_sethook(L, deadline_hook, LUA_MASKCOUNT, 1);
  }
  seen = now_seq;
}

/* SIGINT/SIGTERM. The loop stops at the next wait; code that never waits is stopped by
 * the watchdog once it has run a whole tick (not at once: a task in the middle of its
 * bookkeeping, a journal line, is let reach its next wait). */
void sched_interrupt(void) {
  if (interrupts && !interactive) _exit(130);    /* a second signal while the first is handled */
  if (!interactive) interrupts = 1;
  interrupted = 1;
  watchdog_arm();
  transfer_wakeup();
}

/* sched.take_interrupt() -> whether Ctrl-C was pressed since the last call (clears it) */
static int l_take_interrupt(lua_State *L) {
  lua_pushboolean(L, interrupted);
  interrupted = 0;
  return 1;
}

/* sched.set_interactive(on): in the REPL a Ctrl-C stops a line, never the process */
static int l_set_interactive(lua_State *L) {
  interactive = lua_toboolean(L, 1);
  interrupts = 0;
  return 0;
}

/* sched.set_error_factory(fn): how C builds the error objects it raises */
static int l_set_error_factory(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "evalua.error_factory");
  return 0;
}

static int l_current(lua_State *L) {
  if (current == NULL) lua_pushnil(L);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, current->ref);  /* L may be a coroutine inside the task */
  return 1;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, clock_now());
  return 1;
}

int luaopen_evalua_sched(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"spawn", l_spawn}, {"sleep", l_sleep}, {"join", l_join}, {"queue", l_queue},
    {"park", l_park}, {"unpark", l_unpark}, {"cancel", l_cancel},
    {"deadline", l_deadline}, {"resume", l_resume}, {"current", l_current},
    {"now", l_now}, {"run", l_run}, {"stats", l_stats}, {"cancel_all", l_cancel_all}, {"kill_all", l_kill_all},
    {"set_error_factory", l_set_error_factory}, {"take_interrupt", l_take_interrupt},
    {"set_interactive", l_set_interactive}, {"gc_headroom", l_gc_headroom}, {NULL, NULL},
  };
  main_L = L;
  luaL_newmetatable(L, "evalua.queue");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lua_pushlightuserdata(L, MARKER);
  lua_setfield(L, -2, "MARKER");
  return 1;
}
