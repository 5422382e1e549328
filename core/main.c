/*
 * main.c -- process set-up around the Lua side: signals, libcurl, the Lua state.
 * Command-line parsing and every command live in Lua (lua/evalua/boot.lua), which
 * returns the exit code.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>

#include "evalua.h"

static void on_sigint(int sig) {
  (void)sig;
  sched_interrupt();
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Past a file-size limit, write() should fail with EFBIG (a clear error naming the
   * report) rather than the signal killing evalua without a word. */
  signal(SIGXFSZ, SIG_IGN);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L;
  int code;
  if (transfer_init() != 0) {
    fputs("evalua: cannot initialise libcurl\n", stderr);
    return 4;
  }
  L = state_new();
  if (L == NULL) {
    fputs("evalua: cannot create the Lua state (out of memory)\n", stderr);
    return 3;
  }
  install_signals();
  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "evalua.boot");
  if (lua_pcall(L, 1, 1, 1) != LUA_OK) {
    fprintf(stderr, "evalua: %s\n", lua_tostring(L, -1));
    return 3;
  }
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  if (lua_pcall(L, 1, 1, 1) != LUA_OK) {
    fprintf(stderr, "evalua: internal error: %s\n", lua_tostring(L, -1));
    code = 3;
  } else {
    code = (int)luaL_optinteger(L, -1, 0);
  }
  fflush(stdout);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "evalua.sched");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "kill_all");
  lua_call(L, 0, 0);
  lua_close(L);
  redact_clear();
  auth_shutdown();
  timer_shutdown();
  transfer_shutdown();
  return code;
}
