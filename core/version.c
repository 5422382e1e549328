/*
 * version.c -- the module evalua.version: what evalua is built from, for --version,
 * the REPL banner and bug reports.
 */
#include <curl/curl.h>

#include "evalua.h"

/* version.versions() -> {evalua, lua, curl} */
static int l_versions(lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_pushliteral(L, EVALUA_VERSION);
  lua_setfield(L, -2, "evalua");
  lua_pushliteral(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua");
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl");
  return 1;
}

int luaopen_evalua_version(lua_State *L) {
  static const luaL_Reg funcs[] = {{"versions", l_versions}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
