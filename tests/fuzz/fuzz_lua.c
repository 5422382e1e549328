/*
 * fuzz_lua.c -- the Lua side of the fuzz targets (see fuzz_lua.h).
 *
 * libFuzzer only sees coverage of instrumented C code, and the Lua VM and the
 * modules under test are not C it compiled. A line hook maps each (previous line,
 * line) pair of Lua code to a counter in libFuzzer's extra-counters section, so
 * inputs that take new paths through the Lua parsers are kept in the corpus too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>

#include "evalua.h"
#include "fuzz_lua.h"

/* Where the check scripts are: $EVALUA_FUZZ_DIR (tests/fuzz/run sets it), else the
 * tests/fuzz/ the target was built from. */
#ifndef FUZZ_DIR
#error "build with -DFUZZ_DIR=\"/path/to/tests/fuzz\""
#endif

#define COVERAGE_SLOTS (1 << 16)

__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t lua_coverage[COVERAGE_SLOTS];

static lua_State *state;
static int check_ref = LUA_NOREF;

/* One counter per edge between two executed Lua lines. */
static void on_line(lua_State *L, lua_Debug *ar) {
  static uintptr_t prev;
  uintptr_t here;
  if (!lua_getinfo(L, "S", ar)) return;
  here = ((uintptr_t)ar->source * 0x9E3779B1u) ^ ((uintptr_t)ar->currentline * 0x85EBCA77u);
  here ^= here >> 15;
  if (lua_coverage[(here ^ prev) & (COVERAGE_SLOTS - 1)] < 255)
    lua_coverage[(here ^ prev) & (COVERAGE_SLOTS - 1)]++;
  prev = here >> 1;
}

static int traceback(lua_State *L) {
  const char *msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

lua_State *fuzz_lua_state(const char *script) {
  char path[4096];
  const char *dir;
  if (state) return state;
  state = state_new();
  if (state == NULL) {
    fputs("fuzz: cannot create the Lua state\n", stderr);
    abort();
  }
  dir = getenv("EVALUA_FUZZ_DIR");
  snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : FUZZ_DIR, script);
  lua_pushcfunction(state, traceback);
  if (luaL_loadfilex(state, path, "t") != LUA_OK || lua_pcall(state, 0, 1, 1) != LUA_OK ||
      !lua_isfunction(state, -1)) {
    fprintf(stderr, "fuzz: %s did not return a check function: %s\n", path, lua_tostring(state, -1));
    abort();
  }
  check_ref = luaL_ref(state, LUA_REGISTRYINDEX);
  lua_settop(state, 0);
  lua_sethook(state, on_line, LUA_MASKLINE, 0);
  return state;
}

void fuzz_lua_check(const char *script, const uint8_t *data, size_t size) {
  lua_State *L = fuzz_lua_state(script);
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
    fprintf(stderr, "fuzz: %s: %s\n", script, lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  /* Free this input's garbage now: libFuzzer takes an input that allocates more than
   * it frees for a leak and re-runs it under LeakSanitizer, ten times slower. */
  lua_gc(L, LUA_GCCOLLECT);
}
