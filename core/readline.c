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

/*
 * Tab completion: libedit asks for the word under the cursor; the Lua function given to
 * readline.set_completer(fn) answers fn(word, line) -> {candidate...}. It runs on the
 * main thread (the REPL reads lines there, outside any task) and must not yield.
 */
static lua_State *completer_L;
static int completer_ref = LUA_NOREF;
static char **candidates;
static size_t ncandidates, next_candidate;

static void free_candidates(void) {
  for (size_t i = 0; i < ncandidates; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
  ncandidates = next_candidate = 0;
}

/* libedit's generator protocol: state 0 starts over; NULL ends the list. */
static char *next_match(const char *text, int state) {
  (void)text;
  if (state == 0) next_candidate = 0;
  if (next_candidate >= ncandidates) return NULL;
  return strdup(candidates[next_candidate++]);
}

/* Ask the Lua completer; an error in it means no completion, never a crash. */
static char **complete(const char *text, int start, int end) {
  (void)start, (void)end;
  rl_attempted_completion_over = 1; /* no file names as a fallback */
  if (completer_L == NULL || completer_ref == LUA_NOREF) return NULL;
  lua_State *L = completer_L;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
  lua_pushstring(L, text);
  lua_pushstring(L, rl_line_buffer ? rl_line_buffer : "");
  if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    size_t n = lua_rawlen(L, -1);
    candidates = n ? calloc(n, sizeof *candidates) : NULL;
    for (size_t i = 0; candidates && i < n; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      const char *c = lua_tostring(L, -1);
      if (c && (candidates[ncandidates] = strdup(c)) != NULL) ncandidates++;
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  char **matches = ncandidates ? rl_completion_matches(text, next_match) : NULL;
  free_candidates();
  return matches;
}

/* readline.set_completer(fn): fn(word, line) -> list of completions of word */
static int l_set_completer(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  completer_L = lua_tothread(L, -1);
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, completer_ref);
  lua_pushvalue(L, 1);
  completer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rl_attempted_completion_function = complete;
  rl_basic_word_break_characters = " \t\n\"'`<>=;|&{}()[],+-*/%^~#";
  rl_completion_append_character = '\0';
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
    {"save_history", l_save_history}, {"isatty", l_isatty}, {"set_completer", l_set_completer},
    {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}
