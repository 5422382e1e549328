/*
 * bench.h -- what the C baselines share (each is one file compiled on its own by
 * tests/bench/run): a monotonic clock, dying with a message, a growing response body
 * for CURLOPT_WRITEFUNCTION, and lua-cjson in a bare Lua state to decode it.
 * Define BENCH_NAME before including it.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <lualib.h>

extern int luaopen_cjson(lua_State *L);

typedef struct Body {
  char *data;
  size_t len, cap;
} Body;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", BENCH_NAME, what);
  exit(1);
}

/* CURLOPT_WRITEFUNCTION with a Body as CURLOPT_WRITEDATA. */
static size_t body_write(char *data, size_t size, size_t n, void *ud) {
  Body *b = ud;
  size_t len = size * n;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + len + 1) cap *= 2;
    b->data = realloc(b->data, cap);
    if (b->data == NULL) die("out of memory");
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return len;
}

/* A Lua state holding only the standard libraries, with cjson.decode at index 1. */
static lua_State *cjson_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "cjson", luaopen_cjson, 0);
  lua_getfield(L, -1, "decode");
  lua_replace(L, 1);
  lua_settop(L, 1);
  return L;
}

/* Push cjson.decode(body); dies on invalid JSON. */
static void decode_body(lua_State *L, const Body *b) {
  lua_pushvalue(L, 1);
  lua_pushlstring(L, b->data, b->len);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) die(lua_tostring(L, -1));
}

#endif
