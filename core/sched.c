/*
 * sched.c -- the scheduler: every script body, task, test and REPL line is a Lua
 * coroutine that runs until it waits (timer or HTTP transfer), then yields a private
 * marker back here. The loop waits for the network or the next timer and resumes
 * whichever tasks became ready. Lua is entered only from this loop.
 *
 * Exposed to Lua as the internal module `evalua.core`; the public `task` module
 * (lua/evalua/task.lua) builds handles, joins and timeouts on these primitives.
 */
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "evalua.h"

enum { TASK_READY, TASK_RUNNING, TASK_SUSPENDED };

struct Task {
  lua_State *co;
  int ref;                 /* registry reference that keeps the thread alive */
  int nargs;               /* values on co's stack for its next resume */
  int state;
  Timer timer;             /* sleeps and wait deadlines */
  struct Request *req;     /* transfer in flight, if any */
  Task *next_ready;
  Task *prev, *next;       /* all live tasks, for shutdown */
};

static Task *ready_head, *ready_tail;
static Task *live;
static size_t live_count;
static Task *current;
static volatile sig_atomic_t interrupted;
static int interactive;           /* the REPL: Ctrl-C never ends the process */
static lua_State *main_L;

/* Private marker a waiting task yields, so the loop can tell a wait from a plain
 * coroutine.yield at a task's top level. */
static char suspend_marker;
#define MARKER ((void *)&suspend_marker)

static Task **task_slot(lua_State *co) { return (Task **)lua_getextraspace(co); }
static Task *task_of(lua_State *co) { return *task_slot(co); }

Task *sched_current(void) { return current; }
lua_State *sched_thread(Task *t) { return t->co; }
void sched_set_request(Task *t, struct Request *r) { t->req = r; }

static void enqueue(Task *t) {
  t->state = TASK_READY;
  t->next_ready = NULL;
  if (ready_tail) ready_tail->next_ready = t;
  else ready_head = t;
  ready_tail = t;
}

void sched_wake(Task *t, int nargs) {
  timer_disarm(&t->timer);
  t->nargs = nargs;
  enqueue(t);
}

static void timer_wake(Timer *timer) {
  Task *t = (Task *)((char *)timer - offsetof(Task, timer));
  sched_wake(t, 0);
}

static void task_free(Task *t) {
  timer_disarm(&t->timer);
  if (t->req) http_cancel(t->req);
  if (t->prev) t->prev->next = t->next;
  else live = t->next;
  if (t->next) t->next->prev = t->prev;
  *task_slot(t->co) = NULL;
  lua_settop(t->co, 0);
  luaL_unref(main_L, LUA_REGISTRYINDEX, t->ref);
  live_count--;
  free(t);
}

/* core.spawn(fn, ...) -> thread: fn(...) runs on the next turn of the loop */
static int l_spawn(lua_State *L) {
  int n = lua_gettop(L);
  Task *t;
  lua_State *co;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  t = calloc(1, sizeof *t);
  if (t == NULL) return luaL_error(L, "out of memory");
  co = lua_newthread(L);
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->co = co;
  *task_slot(co) = t;
  timer_init(&t->timer, timer_wake);
  lua_rotate(L, 1, 1);              /* thread below fn and args */
  lua_xmove(L, co, n);              /* fn and args onto the new thread */
  t->next = live;
  if (live) live->prev = t;
  live = t;
  live_count++;
  sched_wake(t, n - 1);
  return 1;
}

static int check_can_wait(lua_State *L) {
  if (current == NULL)
    return luaL_error(L, "evalua: waiting is only possible inside a task (script, test or task.spawn)");
  if (!lua_isyieldable(L))
    return luaL_error(L, "evalua: cannot wait here: the call runs inside a metamethod, iterator or C "
                         "function that cannot yield (move the I/O out of it)");
  return 0;
}

/* core.suspend() -> values passed by whoever wakes the task */
static int l_suspend(lua_State *L) {
  check_can_wait(L);
  lua_pushlightuserdata(L, MARKER);
  return lua_yield(L, 1);
}

/* core.timer(seconds): arm the current task's timer; the caller then suspends */
static int l_timer(lua_State *L) {
  double secs = duration_check(L, 1);
  check_can_wait(L);
  timer_arm(&current->timer, clock_now() + secs);
  return 0;
}

/* core.wake(thread, ...) -> true if the task was waiting and is now ready */
static int l_wake(lua_State *L) {
  Task *t;
  int n = lua_gettop(L) - 1;
  luaL_checktype(L, 1, LUA_TTHREAD);
  t = task_of(lua_tothread(L, 1));
  if (t == NULL || t->state != TASK_SUSPENDED || t->req != NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_xmove(L, t->co, n);
  sched_wake(t, n);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.cancel_wait(thread): withdraw the timer and transfer the task waits on */
static int l_cancel_wait(lua_State *L) {
  Task *t;
  luaL_checktype(L, 1, LUA_TTHREAD);
  t = task_of(lua_tothread(L, 1));
  if (t != NULL) {
    timer_disarm(&t->timer);
    if (t->req) http_cancel(t->req);
    t->req = NULL;
  }
  return 0;
}

/* core.current() -> the running task's thread, or nil outside tasks */
static int l_current(lua_State *L) {
  if (current == NULL) lua_pushnil(L);
  else lua_pushthread(current->co), lua_xmove(current->co, L, 1);
  return 1;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, clock_now());
  return 1;
}

static void report_crash(Task *t, int status) {
  /* Task bodies catch their own errors (task.lua); reaching here is an evalua bug. */
  const char *msg = lua_tostring(t->co, -1);
  luaL_traceback(main_L, t->co, msg ? msg : "(error object is not a string)", 0);
  fprintf(stderr, "evalua: internal error in a task (status %d): %s\n", status, lua_tostring(main_L, -1));
  lua_pop(main_L, 1);
}

static void resume(Task *t) {
  int nres, status;
  current = t;
  t->state = TASK_RUNNING;
  status = lua_resume(t->co, main_L, t->nargs, &nres);
  current = NULL;
  t->nargs = 0;
  if (status == LUA_YIELD) {
    int waits = nres > 0 && lua_touserdata(t->co, -nres) == MARKER;
    lua_pop(t->co, nres);
    if (waits) t->state = TASK_SUSPENDED;
    else enqueue(t);                 /* a bare coroutine.yield: just let others run */
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
    resume(t);
    if (t == stop) break;
  }
}

static int thread_done(lua_State *co) {
  return task_of(co) == NULL && lua_status(co) == LUA_OK && lua_gettop(co) == 0;
}

/* core.run([thread]) -> "done" | "interrupted" | "stuck"
 * Runs the loop until the given task finished (or every task, without argument). */
static int l_run(lua_State *L) {
  lua_State *until = lua_isnoneornil(L, 1) ? NULL : (luaL_checktype(L, 1, LUA_TTHREAD), lua_tothread(L, 1));
  if (current != NULL) return luaL_error(L, "core.run cannot be called inside a task");
  for (;;) {
    double wait, now;
    run_ready();
    if (until ? thread_done(until) : live_count == 0) {
      lua_pushliteral(L, "done");
      return 1;
    }
    if (interrupted) {
      interrupted = 0;
      lua_pushliteral(L, "interrupted");
      return 1;
    }
    now = clock_now();
    wait = ready_head ? 0 : timer_next_wait(now);
    if (wait < 0 && !http_active()) {
      if (ready_head == NULL) {
        lua_pushliteral(L, "stuck");
        return 1;
      }
    }
    if (wait < 0 || wait > 1) wait = 1;
    if (http_active()) http_poll(wait);
    else if (wait > 0) poll(NULL, 0, (int)ceil(wait * 1000));
    timer_fire_expired(clock_now());
  }
}

/* core.stats() -> {tasks, timers, requests} for diagnostics and benchmarks */
static int l_stats(lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)live_count);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, (lua_Integer)timer_count());
  lua_setfield(L, -2, "timers");
  lua_pushinteger(L, http_active());
  lua_setfield(L, -2, "requests");
  return 1;
}

void sched_interrupt(void) {
  if (interrupted && !interactive) _exit(130);    /* a second Ctrl-C while the first is handled */
  interrupted = 1;
  http_wakeup();
}

/* core.take_interrupt() -> whether Ctrl-C was pressed since the last call (clears it) */
static int l_take_interrupt(lua_State *L) {
  lua_pushboolean(L, interrupted);
  interrupted = 0;
  return 1;
}

/* core.set_interactive(on): in the REPL a Ctrl-C stops a line, never the process */
static int l_set_interactive(lua_State *L) {
  interactive = lua_toboolean(L, 1);
  return 0;
}

static int l_duration(lua_State *L) {
  lua_pushnumber(L, duration_check(L, 1));
  return 1;
}

static int l_versions(lua_State *L) {
  lua_createtable(L, 0, 4);
  lua_pushliteral(L, EVALUA_VERSION);
  lua_setfield(L, -2, "evalua");
  lua_pushliteral(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  lua_pushstring(L, http_curl_version());
  lua_setfield(L, -2, "curl");
  return 1;
}

static int l_set_verbose(lua_State *L) {
  http_set_verbose(lua_toboolean(L, 1));
  return 0;
}

static int l_shutdown(lua_State *L) {
  (void)L;
  while (live) task_free(live);
  ready_head = ready_tail = NULL;
  return 0;
}

int luaopen_evalua_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"spawn", l_spawn}, {"suspend", l_suspend}, {"timer", l_timer},
    {"wake", l_wake}, {"cancel_wait", l_cancel_wait}, {"current", l_current},
    {"now", l_now}, {"run", l_run}, {"stats", l_stats}, {"duration", l_duration}, {"parse_duration", duration_lua_parse},
    {"versions", l_versions}, {"set_verbose", l_set_verbose},
    {"http_send", http_send}, {"http_configure", http_configure}, {"url_check", http_url_check},
    {"shutdown", l_shutdown}, {"take_interrupt", l_take_interrupt},
    {"set_interactive", l_set_interactive}, {NULL, NULL},
  };
  main_L = L;
  luaL_newlib(L, funcs);
  lua_pushlightuserdata(L, MARKER);
  lua_setfield(L, -2, "MARKER");
  luaL_requiref(L, "evalua.json", luaopen_evalua_json, 0);
  lua_getfield(L, -1, "decode");
  lua_pushvalue(L, -3);
  auth_register(L, -2);
  lua_pop(L, 3);
  return 1;
}
