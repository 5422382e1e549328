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

/* Every token issued: the one cached for its key (`live`) and the ones replaced or dropped
 * that a request sent before may still echo. A token is registered for redaction while it
 * is live, while a request sent with it is held, and until it expired. */
typedef struct Token {
  char *key, *value;
  double expires_at;         /* monotonic seconds */
  lua_Integer generation;
  int live;
  long holds;                /* requests sent with it whose hold was not yet collected */
  struct Token *next;
} Token;

static Token *tokens;
static lua_Integer generations;

#define HOLD "evalua.token_hold"

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

/* token.jwt_expiry(token) -> the `exp` claim (epoch seconds), or nil */
static int l_jwt_expiry(lua_State *L) {
  double exp;
  const char *token = luaL_checkstring(L, 1);
  if (push_jwt_claims(L, lua_upvalueindex(1), token) && field_number(L, -1, "exp", &exp)) {
    lua_pushnumber(L, exp);
    return 1;
  }
  return 0;
}

/* token.lifetime(response [, now_epoch]) -> seconds the token stays valid:
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
    if (t->live && strcmp(t->key, key) == 0) return t;
  return NULL;
}

static void free_token(Token *t) {
  free(t->key);
  free(t->value);
  free(t);
}

/* Forget the tokens that are neither cached, nor held by a request, nor still valid:
 * their value leaves the redaction set. */
static void prune(void) {
  double now = clock_now();
  for (Token **p = &tokens; *p;) {
    Token *t = *p;
    if (!t->live && t->holds == 0 && now >= t->expires_at) {
      *p = t->next;
      redact_release(t->value);
      free_token(t);
    } else {
      p = &t->next;
    }
  }
}

/* The cached token of key (argument 1) valid for margin (argument 2) more seconds, or NULL. */
static Token *valid_token(lua_State *L) {
  Token *t = find(luaL_checkstring(L, 1));
  double margin = luaL_optnumber(L, 2, 0);
  prune();
  return t != NULL && clock_now() < t->expires_at - margin ? t : NULL;
}

/* token.get(key, margin) -> token, generation; nil when none is valid for `margin` more seconds */
static int l_token_get(lua_State *L) {
  Token *t = valid_token(L);
  if (t == NULL) return 0;
  lua_pushstring(L, t->value);
  lua_pushinteger(L, t->generation);
  return 2;
}

/* token.generation(key, margin) -> the generation token.get would return, without the
 * token itself (a caller that has that generation's value already: no copy of it made) */
static int l_token_generation(lua_State *L) {
  Token *t = valid_token(L);
  if (t == NULL) return 0;
  lua_pushinteger(L, t->generation);
  return 1;
}

/* token.put(key, token, lifetime) -> generation (counts replacements) */
static int l_token_put(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  const char *value = luaL_checkstring(L, 2);
  double lifetime = luaL_checknumber(L, 3);
  Token *old = find(key), *t = calloc(1, sizeof *t);
  if (t == NULL || (t->key = strdup(key)) == NULL || (t->value = strdup(value)) == NULL) {
    if (t) free_token(t);
    return luaL_error(L, "out of memory");
  }
  if (old) old->live = 0;
  redact_hold(value);
  t->live = 1;
  t->expires_at = clock_now() + lifetime;
  t->generation = ++generations;
  t->next = tokens;
  tokens = t;
  prune();
  lua_pushinteger(L, t->generation);
  return 1;
}

/* token.drop(key, generation): forget the token a 401 proved dead -- unless it was
 * already replaced by a newer one (another request refreshed first). */
static int l_token_drop(lua_State *L) {
  Token *t = find(luaL_checkstring(L, 1));
  if (t && t->generation == luaL_checkinteger(L, 2)) t->live = 0;
  prune();
  return 0;
}

static Token *by_generation(lua_Integer generation) {
  for (Token *t = tokens; t; t = t->next)
    if (t->generation == generation) return t;
  return NULL;
}

/* token.hold(generation) -> a hold: the token stays redacted until the hold is
 * collected (a request keeps it for as long as it may print what the server said). */
static int l_token_hold(lua_State *L) {
  lua_Integer generation = luaL_checkinteger(L, 1);
  lua_Integer *hold = lua_newuserdatauv(L, sizeof *hold, 0);
  Token *t = by_generation(generation);
  *hold = t ? generation : 0;
  if (t) t->holds++;
  luaL_setmetatable(L, HOLD);
  return 1;
}

static int hold_gc(lua_State *L) {
  lua_Integer *hold = luaL_checkudata(L, 1, HOLD);
  Token *t = *hold ? by_generation(*hold) : NULL;
  *hold = 0;
  if (t) {
    t->holds--;
    prune();
  }
  return 0;
}

void auth_shutdown(void) {
  while (tokens) {
    Token *t = tokens;
    tokens = t->next;
    free_token(t);
  }
}

/* The module evalua.token: the token cache and lifetimes. The functions reading JWT
 * claims hold evalua.json's decoder as their upvalue. */
int luaopen_evalua_token(lua_State *L) {
  static const luaL_Reg with_decoder[] = {
    {"jwt_expiry", l_jwt_expiry}, {"lifetime", l_token_lifetime}, {NULL, NULL},
  };
  static const luaL_Reg plain[] = {
    {"get", l_token_get}, {"generation", l_token_generation}, {"put", l_token_put}, {"drop", l_token_drop}, {"hold", l_token_hold}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, HOLD)) {
    lua_pushcfunction(L, hold_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, hold_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  luaL_newlib(L, plain);
  luaL_requiref(L, "evalua.json", luaopen_evalua_json, 0);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
  luaL_setfuncs(L, with_decoder, 1);
  return 1;
}
