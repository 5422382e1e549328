/*
 * json.c -- the `json` module: lua-cjson decodes (fast, depth-limited); encoding is
 * done here because cjson 2.1.0 cannot write an empty array, sorts no keys and cannot
 * indent -- all things reports and request bodies need.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"

extern int luaopen_cjson(lua_State *L);

#define ARRAY_MT "evalua.json.array"
#define MAX_DEPTH 1000

typedef struct Out {
  char *data;
  size_t len, cap;
} Out;

typedef struct Encoder {
  lua_State *L;
  Out out;
  int indent;              /* spaces per level, 0 for compact output */
  int sort_keys;
  int depth;
  const char *error;       /* static reason, set on failure */
  /* Path to the value at fault, one segment per level: an index or a key. */
  struct { lua_Integer index; const char *key; } path[MAX_DEPTH + 1];
} Encoder;

static int put(Encoder *e, const char *s, size_t n) {
  if (e->out.len + n + 1 > e->out.cap) {
    size_t cap = e->out.cap ? e->out.cap : 256;
    char *grown;
    while (cap < e->out.len + n + 1) cap *= 2;
    grown = realloc(e->out.data, cap);
    if (grown == NULL) {
      e->error = "out of memory";
      return -1;
    }
    e->out.data = grown;
    e->out.cap = cap;
  }
  memcpy(e->out.data + e->out.len, s, n);
  e->out.len += n;
  return 0;
}

#define PUTS(e, lit) put((e), (lit), sizeof(lit) - 1)

static int newline(Encoder *e) {
  if (!e->indent) return 0;
  if (PUTS(e, "\n")) return -1;
  for (int i = 0; i < e->depth * e->indent; i++)
    if (PUTS(e, " ")) return -1;
  return 0;
}

static int put_string(Encoder *e, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (PUTS(e, "\"")) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[7];
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
        u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
        esc = u;
      }
    }
    if (esc ? put(e, esc, strlen(esc)) : put(e, (const char *)&s[i], 1)) return -1;
  }
  return PUTS(e, "\"");
}

static int put_number(Encoder *e, int idx) {
  char num[40];
  int n;
  if (lua_isinteger(e->L, idx)) {
    n = snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(e->L, idx));
  } else {
    double d = lua_tonumber(e->L, idx);
    if (!isfinite(d)) {
      e->error = "cannot encode NaN or infinity";
      return -1;
    }
    /* Shortest form that reads back as the same double. */
    for (int prec = 15; prec <= 17; prec++) {
      n = snprintf(num, sizeof num, "%.*g", prec, d);
      if (strtod(num, NULL) == d) break;
    }
  }
  return put(e, num, (size_t)n);
}

static int encode_value(Encoder *e, int idx);

/* The length n when t holds exactly the keys 1..n (n may be 0), else -1. */
static lua_Integer array_length(lua_State *L, int idx) {
  lua_Integer n = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER || !lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      lua_pop(L, 1);
      return -1;
    }
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    n++;
  }
  return n == max ? n : -1;
}

static int marked_array(lua_State *L, int idx) {
  int marked;
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, ARRAY_MT);
  marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

static int encode_array(Encoder *e, int idx, lua_Integer n) {
  if (PUTS(e, "[")) return -1;
  e->depth++;
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1 && PUTS(e, ",")) return -1;
    if (newline(e)) return -1;
    e->path[e->depth].index = i;
    e->path[e->depth].key = NULL;
    lua_rawgeti(e->L, idx, i);
    if (encode_value(e, lua_gettop(e->L))) return -1;
    lua_pop(e->L, 1);
  }
  e->depth--;
  if (n > 0 && newline(e)) return -1;
  return PUTS(e, "]");
}

typedef struct Key {
  const char *text;        /* the key as written in JSON (may hold NUL bytes) */
  size_t len;
  lua_Integer slot;        /* where the original key sits in the side table */
} Key;

static int compare_keys(const void *a, const void *b) {
  const Key *x = a, *y = b;
  int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int encode_object(Encoder *e, int idx) {
  lua_State *L = e->L;
  lua_Integer n = 0;
  Key *keys;
  int keytab;
  /* Keys go to a side table as (original, string form) pairs: numeric keys are
   * written as strings, and the strings must stay alive while we point at them. */
  lua_newtable(L);
  keytab = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
      e->error = "table keys must be strings or numbers";
      return -1;
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, keytab, 2 * n + 1);
    lua_pushvalue(L, -1);
    lua_tostring(L, -1);
    lua_rawseti(L, keytab, 2 * n + 2);
    n++;
  }
  keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
  if (keys == NULL) {
    e->error = "out of memory";
    return -1;
  }
  for (lua_Integer i = 0; i < n; i++) {
    lua_rawgeti(L, keytab, 2 * i + 2);
    keys[i].text = lua_tolstring(L, -1, &keys[i].len);
    keys[i].slot = 2 * i + 1;
    lua_pop(L, 1);
  }
  if (e->sort_keys) qsort(keys, (size_t)n, sizeof *keys, compare_keys);
  if (PUTS(e, "{")) goto fail;
  e->depth++;
  for (lua_Integer i = 0; i < n; i++) {
    if ((i > 0 && PUTS(e, ",")) || newline(e) || put_string(e, keys[i].text, keys[i].len) ||
        PUTS(e, ":") || (e->indent && PUTS(e, " ")))
      goto fail;
    e->path[e->depth].key = keys[i].text;
    lua_rawgeti(L, keytab, keys[i].slot);
    lua_rawget(L, idx);
    if (encode_value(e, lua_gettop(L))) goto fail;
    lua_pop(L, 1);
  }
  e->depth--;
  free(keys);
  lua_pop(L, 1);
  if (n > 0 && newline(e)) return -1;
  return PUTS(e, "}");
fail:
  free(keys);
  return -1;
}

static int encode_value(Encoder *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return PUTS(e, "null");
  case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? PUTS(e, "true") : PUTS(e, "false");
  case LUA_TNUMBER: return put_number(e, idx);
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return put_string(e, s, n);
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return PUTS(e, "null");  /* cjson.null */
    break;
  case LUA_TTABLE: {
    lua_Integer n;
    if (e->depth >= MAX_DEPTH) {
      e->error = "nesting deeper than 1000 levels (a table that contains itself?)";
      return -1;
    }
    if (!lua_checkstack(L, 8)) {
      e->error = "out of stack space";
      return -1;
    }
    if (marked_array(L, idx)) return encode_array(e, idx, (lua_Integer)lua_rawlen(L, idx));
    n = array_length(L, idx);
    if (n > 0) return encode_array(e, idx, n);
    return encode_object(e, idx);
  }
  default: break;
  }
  e->error = lua_pushfstring(L, "cannot encode a %s", luaL_typename(L, idx));
  return -1;
}

static void push_path(lua_State *L, Encoder *e) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '$');
  for (int i = 1; i <= e->depth; i++) {
    if (e->path[i].key) {
      luaL_addchar(&b, '.');
      luaL_addstring(&b, e->path[i].key);
    } else {
      lua_pushfstring(L, "[%I]", e->path[i].index);
      luaL_addvalue(&b);
    }
  }
  luaL_pushresult(&b);
}

/* json.encode(value [, {indent = n|true, sort_keys = bool}]) -> string */
static int l_encode(lua_State *L) {
  Encoder *e;
  int rc;
  lua_settop(L, 2);
  e = lua_newuserdatauv(L, sizeof *e, 0);   /* large: keep it off the C stack */
  memset(e, 0, offsetof(Encoder, path));    /* path[] is written before it is read */
  e->L = L;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "indent");
    e->indent = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : lua_toboolean(L, -1) ? 2 : 0;
    lua_getfield(L, 2, "sort_keys");
    e->sort_keys = lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  rc = encode_value(e, 1);
  if (rc != 0) {
    const char *why = e->error ? e->error : "failed";
    free(e->out.data);
    push_path(L, e);
    return luaL_error(L, "json.encode: %s at %s", why, lua_tostring(L, -1));
  }
  lua_pushlstring(L, e->out.data ? e->out.data : "", e->out.len);
  free(e->out.data);
  return 1;
}

/* json.decode(text) -> value; errors name the offset (cjson: "at character N") */
static int l_decode(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    return luaL_error(L, "json.decode: %s", msg ? msg : "invalid JSON");
  }
  return 1;
}

/* json.array([t]) -> t, marked to encode as a JSON array even when empty */
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, ARRAY_MT);
  return 1;
}

static int l_is_array(lua_State *L) {
  lua_pushboolean(L, lua_istable(L, 1) && marked_array(L, 1));
  return 1;
}

int luaopen_evalua_json(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"encode", l_encode}, {"array", l_array}, {"is_array", l_is_array}, {NULL, NULL},
  };
  luaL_newmetatable(L, ARRAY_MT);
  lua_pushliteral(L, "json.array");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  /* A private cjson instance: users' cjson settings must not change evalua's. */
  luaopen_cjson(L);
  lua_getfield(L, -1, "new");
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "decode_invalid_numbers");
  lua_pushboolean(L, 0);
  lua_call(L, 1, 0);
  lua_getfield(L, -1, "decode_max_depth");
  lua_pushinteger(L, MAX_DEPTH);
  lua_call(L, 1, 0);
  lua_getfield(L, -1, "null");
  lua_setfield(L, -4, "null");
  lua_getfield(L, -1, "decode");
  lua_pushcclosure(L, l_decode, 1);
  lua_setfield(L, -4, "decode");
  lua_pop(L, 2);
  return 1;
}
