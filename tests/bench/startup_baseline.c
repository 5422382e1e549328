/*
 * startup_baseline.c -- the start-up floor for evalua: a plain C program that does what
 * any libcurl + Lua host must do before running a script (initialise libcurl and a multi
 * handle, create a Lua state with the standard libraries) and then exits cleanly.
 * Linked like bin/evalua: static Lua and lua-cjson, shared libcurl.
 */
#include <stdio.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <lualib.h>

int main(void) {
  CURLM *multi;
  lua_State *L;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  multi = curl_multi_init();
  L = luaL_newstate();
  if (multi == NULL || L == NULL) return 1;
  luaL_openlibs(L);
  if (luaL_dostring(L, "") != LUA_OK) return 1;
  lua_close(L);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return 0;
}
