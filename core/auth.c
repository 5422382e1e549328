/*
 * auth.c -- the process's OAuth token cache and the arithmetic of token lifetimes.
 * Tokens are kept here, outside the Lua heap, keyed by token URL and client id, so
 * every client of one org in the process shares one token; lua/evalua/auth.lua does
 * the fetching (one at a time) on top of it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evalua.h"

/* Salesforce JWTs last 30 minutes unless an admin shortened them. */
#define DEFAULT_LIFETIME 1800.0

typedef struct Token {
  char *key, *value;
  double expires_at;         /* monotonic seconds */
  lua_Integer generation;
  struct Token *next;
} Token;

static Token *tokens;
static lua_Integer generations;

static int b64url_value(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

/* Decode base64url (padding optional) into out; returns the length or -1. */
long base64url_decode(const char *in, size_t n, char *out, size_t cap) {
  unsigned long bits = 0;
  int nbits = 0;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    int v;
    if (in[i] == '=') break;
    v = b64url_value((unsigned char)in[i]);
    if (v < 0) return -1;
    bits = ((bits << 6) | (unsigned long)v) & 0xffffff;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      if (len >= cap) return -1;
      out[len++] = (char)((bits >> nbits) & 0xff);
    }
  }
  return (long)len;
}

/* Push the decoded JSON payload of a JWT (header.payload.signature), or nothing. */
static int push_jwt_claims(lua_State *L, int decode, const char *token) {
  const char *dot1 = strchr(token, '.'), *dot2;
  char *buf;
  long len;
  size_t n;
  if (dot1 == NULL || (dot2 = strchr(dot1 + 1, '.')) == NULL || strchr(dot2 + 1, '.')) return 0;
  n = (size_t)(dot2 - dot1 - 1);
  if (n == 0 || n > 64 * 1024) return 0;
  buf = malloc(n);
  if (buf == NULL) return 0;
  len = base64url_decode(dot1 + 1, n, buf, n);
  if (len <= 0) {
    free(buf);
    return 0;
  }
  lua_pushvalue(L, decode);
  lua_pushlstring(L, buf, (size_t)len);
  free(buf);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

/* A field as a number: JSON numbers and numeric strings ("1737590384852") alike. */
static int field_number(lua_State *L, int t, const char *k, double *out) {
  int isnum = 0;
  lua_getfield(L, t, k);
  if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING) *out = lua_tonumberx(L, -1, &isnum);
  lua_pop(L, 1);
  return isnum && isfinite(*out);
}

/* core.jwt_expiry(token) -> the `exp` claim (epoch seconds), or nil */
static int l_jwt_expiry(lua_State *L) {
  double exp;
  const char *token = luaL_checkstring(L, 1);
  if (push_jwt_claims(L, lua_upvalueindex(1), token) && field_number(L, -1, "exp", &exp)) {
    lua_pushnumber(L, exp);
    return 1;
  }
  return 0;
}

/* core.token_lifetime(response [, now_epoch]) -> seconds the token stays valid:
 * `expires_in`, else the JWT's `exp`, else `issued_at` (epoch ms) + 30 min, else 30 min. */
static int l_token_lifetime(lua_State *L) {
  double now = luaL_optnumber(L, 2, (double)time(NULL)), v;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (field_number(L, 1, "expires_in", &v)) {
    lua_pushnumber(L, v);
    return 1;
  }
  lua_getfield(L, 1, "access_token");
  if (lua_type(L, -1) == LUA_TSTRING && push_jwt_claims(L, lua_upvalueindex(1), lua_tostring(L, -1)) &&
      field_number(L, -1, "exp", &v)) {
    lua_pushnumber(L, v - now);
    return 1;
  }
  if (field_number(L, 1, "issued_at", &v)) {
    lua_pushnumber(L, v / 1000 + DEFAULT_LIFETIME - now);
    return 1;
  }
  lua_pushnumber(L, DEFAULT_LIFETIME);
  return 1;
}

static Token *find(const char *key) {
  for (Token *t = tokens; t; t = t->next)
    if (strcmp(t->key, key) == 0) return t;
  return NULL;
}

/* core.token_get(key, margin) -> token, generation; nil when none is valid for `margin` more seconds */
static int l_token_get(lua_State *L) {
  Token *t = find(luaL_checkstring(L, 1));
  double margin = luaL_optnumber(L, 2, 0);
  if (t == NULL || t->value == NULL || clock_now() >= t->expires_at - margin) return 0;
  lua_pushstring(L, t->value);
  lua_pushinteger(L, t->generation);
  return 2;
}

/* core.token_put(key, token, lifetime) -> generation (counts replacements) */
static int l_token_put(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  const char *value = luaL_checkstring(L, 2);
  double lifetime = luaL_checknumber(L, 3);
  Token *t = find(key);
  if (t == NULL) {
    t = calloc(1, sizeof *t);
    if (t == NULL || (t->key = strdup(key)) == NULL) return luaL_error(L, "out of memory");
    t->next = tokens;
    tokens = t;
  }
  free(t->value);
  t->value = strdup(value);
  if (t->value == NULL) return luaL_error(L, "out of memory");
  redact_add(value);
  t->expires_at = clock_now() + lifetime;
  t->generation = ++generations;
  lua_pushinteger(L, t->generation);
  return 1;
}

/* core.token_drop(key, generation): forget the token a 401 proved dead -- unless it was
 * already replaced by a newer one (another request refreshed first). */
static int l_token_drop(lua_State *L) {
  Token *t = find(luaL_checkstring(L, 1));
  if (t && t->value && t->generation == luaL_checkinteger(L, 2)) {
    free(t->value);
    t->value = NULL;
  }
  return 0;
}

void auth_shutdown(void) {
  while (tokens) {
    Token *t = tokens;
    tokens = t->next;
    free(t->key);
    free(t->value);
    free(t);
  }
}

/* The module evalua.token: the token cache and lifetimes. The functions reading JWT
 * claims hold evalua.json's decoder as their upvalue. */
int luaopen_evalua_token(lua_State *L) {
  static const luaL_Reg with_decoder[] = {
    {"jwt_expiry", l_jwt_expiry}, {"lifetime", l_token_lifetime}, {NULL, NULL},
  };
  static const luaL_Reg plain[] = {
    {"get", l_token_get}, {"put", l_token_put}, {"drop", l_token_drop}, {NULL, NULL},
  };
  luaL_newlib(L, plain);
  luaL_requiref(L, "evalua.json", luaopen_evalua_json, 0);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
  luaL_setfuncs(L, with_decoder, 1);
  return 1;
}
