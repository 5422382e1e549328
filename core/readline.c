/*
 * readline.c -- line editing and history for the REPL, through libedit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <editline/readline.h>

#include "evalua.h"

/* readline.read(prompt) -> line, or nil at end of input */
static int l_read(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "> ");
  char *line = readline(prompt);
  if (line == NULL) return 0;
  lua_pushstring(L, line);
  free(line);
  return 1;
}

static int l_add_history(lua_State *L) {
  add_history(luaL_checkstring(L, 1));
  return 0;
}

static int l_load_history(lua_State *L) {
  read_history(luaL_checkstring(L, 1));
  return 0;
}

static int l_save_history(lua_State *L) {
  write_history(luaL_checkstring(L, 1));
  return 0;
}

/* readline.isatty(fd) -> whether fd (0, 1, 2) is a terminal */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

int luaopen_evalua_readline(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"read", l_read}, {"add_history", l_add_history}, {"load_history", l_load_history},
    {"save_history", l_save_history}, {"isatty", l_isatty}, {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}
