/*
 * readline.c -- line editing and history for the REPL, through libedit.
 *
 * libedit is opened (dlopen) the first time the REPL needs it, not linked: with its
 * libtinfo, libbsd and libmd it is four shared objects that every start of evalua would
 * otherwise map and relocate for nothing (about 7% of the start-up's instructions,
 * tests/bench/RESULTS.md). Without libedit the REPL still works, with plain lines.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <editline/readline.h>

#include "evalua.h"

/* libedit 2's soname (Debian's libedit2, which libedit-dev depends on). */
#define LIBEDIT_SONAME "libedit.so.2"

/* What the REPL uses of libedit, looked up once; all NULL when it cannot be loaded.
 * The names are readline.h's own, so their types are checked against it. */
static struct {
  int tried;
  __typeof__(readline) *readline;
  __typeof__(add_history) *add_history;
  __typeof__(read_history) *read_history;
  __typeof__(write_history) *write_history;
  __typeof__(rl_completion_matches) *rl_completion_matches;
  __typeof__(rl_line_buffer) *rl_line_buffer;
  __typeof__(rl_basic_word_break_characters) *rl_basic_word_break_characters;
  __typeof__(rl_attempted_completion_function) *rl_attempted_completion_function;
  __typeof__(rl_attempted_completion_over) *rl_attempted_completion_over;
  __typeof__(rl_completion_append_character) *rl_completion_append_character;
} edit;

/* Whether libedit is usable (loading it on first call): $EVALUA_LIBEDIT names another
 * copy of it, or none when empty. */
static int edit_loaded(void) {
  const char *name = getenv("EVALUA_LIBEDIT");
  void *h;
  if (edit.tried) return edit.readline != NULL;
  edit.tried = 1;
  if (name == NULL) name = LIBEDIT_SONAME;
  if (*name == '\0' || (h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) == NULL) return 0;
#define SYM(name) (*(void **)&edit.name = dlsym(h, #name)) != NULL
  if (SYM(add_history) && SYM(read_history) && SYM(write_history) && SYM(rl_completion_matches) &&
      SYM(rl_line_buffer) && SYM(rl_basic_word_break_characters) && SYM(rl_attempted_completion_function) &&
      SYM(rl_attempted_completion_over) && SYM(rl_completion_append_character) && SYM(readline))
    return 1;
#undef SYM
  memset(&edit, 0, sizeof edit);   /* an incomplete library: plain lines */
  edit.tried = 1;
  dlclose(h);
  return 0;
}

/* A line without editing (no libedit): the prompt, then stdin up to a newline. */
static int read_plain(lua_State *L, const char *prompt) {
  luaL_Buffer b;
  int c, any = 0;
  fputs(prompt, stdout);
  fflush(stdout);
  luaL_buffinit(L, &b);
  while ((c = getchar()) != EOF && c != '\n') {
    luaL_addchar(&b, (char)c);
    any = 1;
  }
  if (c == EOF && !any) return 0;
  luaL_pushresult(&b);
  return 1;
}

/* readline.read(prompt) -> line, or nil at end of input */
static int l_read(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "> ");
  char *line;
  if (!edit_loaded()) return read_plain(L, prompt);
  line = edit.readline(prompt);
  if (line == NULL) return 0;
  lua_pushstring(L, line);
  free(line);
  return 1;
}

static int l_add_history(lua_State *L) {
  const char *line = luaL_checkstring(L, 1);
  if (edit_loaded()) edit.add_history(line);
  return 0;
}

static int l_load_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (edit_loaded()) edit.read_history(path);
  return 0;
}

static int l_save_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (edit_loaded()) edit.write_history(path);
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
  *edit.rl_attempted_completion_over = 1; /* no file names as a fallback */
  if (completer_L == NULL || completer_ref == LUA_NOREF) return NULL;
  lua_State *L = completer_L;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
  lua_pushstring(L, text);
  lua_pushstring(L, *edit.rl_line_buffer ? *edit.rl_line_buffer : "");
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
  char **matches = ncandidates ? edit.rl_completion_matches(text, next_match) : NULL;
  free_candidates();
  return matches;
}

/* readline.set_completer(fn): fn(word, line) -> list of completions of word */
static int l_set_completer(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (!edit_loaded()) return 0;           /* plain lines: nothing to complete with */
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  completer_L = lua_tothread(L, -1);
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, completer_ref);
  lua_pushvalue(L, 1);
  completer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  *edit.rl_attempted_completion_function = complete;
  *edit.rl_basic_word_break_characters = " \t\n\"'`<>=;|&{}()[],+-*/%^~#";
  *edit.rl_completion_append_character = '\0';
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
