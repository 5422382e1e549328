/*
 * duration.c -- durations as users write them: 2, 0.5, "500ms", "30s", "10m", "1h30m".
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"

/* Seconds per unit, longest unit names first so "ms" wins over "m". */
static const struct { const char *name; double seconds; } units[] = {
  {"ms", 0.001}, {"us", 0.000001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400},
};

int duration_parse(const char *text, double *seconds) {
  const char *p = text;
  double total = 0;
  int parts = 0;
  while (isspace((unsigned char)*p)) p++;
  if (*p == '\0') return -1;
  while (*p && !isspace((unsigned char)*p)) {
    char *end;
    size_t i;
    double value;
    if (!isdigit((unsigned char)*p) && *p != '.') return -1;
    value = strtod(p, &end);
    if (end == p || !isfinite(value)) return -1;
    p = end;
    if (*p == '\0' || isspace((unsigned char)*p)) {
      if (parts > 0) return -1;           /* "1m30" is ambiguous */
      total = value;
      parts++;
      break;
    }
    for (i = 0; i < sizeof units / sizeof units[0]; i++) {
      size_t n = strlen(units[i].name);
      if (strncmp(p, units[i].name, n) == 0 && !isalpha((unsigned char)p[n])) {
        total += value * units[i].seconds;
        p += n;
        break;
      }
    }
    if (i == sizeof units / sizeof units[0]) return -1;
    parts++;
  }
  while (isspace((unsigned char)*p)) p++;
  if (*p != '\0' || total < 0 || !isfinite(total)) return -1;      /* "1e308d" overflows */
  *seconds = total;
  return 0;
}

double duration_check(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    double v = lua_tonumber(L, idx);
    luaL_argcheck(L, v >= 0 && isfinite(v), idx, "duration must be a non-negative number");
    return v;
  }
  if (lua_type(L, idx) == LUA_TSTRING) {
    double v;
    const char *s = lua_tostring(L, idx);
    if (duration_parse(s, &v) == 0) return v;
    return luaL_argerror(L, idx, lua_pushfstring(L,
        "invalid duration '%s' (use seconds or e.g. \"500ms\", \"30s\", \"10m\", \"1h\")", s));
  }
  return luaL_typeerror(L, idx, "duration (number or string)");
}

/* duration.parse(v) -> seconds, or nil and what is wrong (never raises): Lua
 * callers word the bad-argument error with their own function's name. */
static int l_parse(lua_State *L) {
  double v;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    v = lua_tonumber(L, 1);
    if (v >= 0 && isfinite(v)) {
      lua_pushnumber(L, v);
      return 1;
    }
    lua_pushnil(L);
    lua_pushliteral(L, "duration must be a non-negative number");
    return 2;
  }
  if (lua_type(L, 1) == LUA_TSTRING && duration_parse(lua_tostring(L, 1), &v) == 0) {
    lua_pushnumber(L, v);
    return 1;
  }
  lua_pushnil(L);
  if (lua_type(L, 1) == LUA_TSTRING)
    lua_pushfstring(L, "invalid duration '%s' (use seconds or e.g. \"500ms\", \"30s\", \"10m\", \"1h\")",
                    lua_tostring(L, 1));
  else
    lua_pushfstring(L, "duration (number or string) expected, got %s", luaL_typename(L, 1));
  return 2;
}

double duration_opt(lua_State *L, int idx, double def) {
  return lua_isnoneornil(L, idx) ? def : duration_check(L, idx);
}

/* duration.seconds(v) -> seconds; a bad-argument error otherwise */
static int l_seconds(lua_State *L) {
  lua_pushnumber(L, duration_check(L, 1));
  return 1;
}

int luaopen_evalua_duration(lua_State *L) {
  static const luaL_Reg funcs[] = {{"parse", l_parse}, {"seconds", l_seconds}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
