/*
 * state.c -- the Lua state: standard libraries, evalua's C modules in
 * package.preload, and a searcher that finds the evalua.* Lua modules inside the
 * binary (or on disk, for development).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lualib.h>

#include "evalua.h"

extern int luaopen_cjson(lua_State *L);
extern int luaopen_cjson_safe(lua_State *L);

/* Where lua/ lives on disk when modules are loaded from there instead of the binary:
 * $EVALUA_LUA_DIR, or the source tree the binary was built in (bin/../lua). */
static char lua_dir[PATH_MAX];

static int file_exists(const char *path) {
  return access(path, R_OK) == 0;
}

static void find_lua_dir(void) {
  const char *env = getenv("EVALUA_LUA_DIR");
  char exe[PATH_MAX], root[PATH_MAX + 8], probe[PATH_MAX + 32];
  ssize_t n;
  if (env && *env) {
    snprintf(lua_dir, sizeof lua_dir, "%s", env);
    return;
  }
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  *strrchr(exe, '/') = '\0';                       /* .../bin */
  snprintf(root, sizeof root, "%s/../lua", exe);
  snprintf(probe, sizeof probe, "%s/evalua/boot.lua", root);
  if (file_exists(probe) && realpath(root, lua_dir) == NULL) lua_dir[0] = '\0';
}

/* package.searchers entry for evalua.* modules: disk (development) or embedded. */
static int search_evalua(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (strncmp(name, "evalua.", 7) != 0 && strcmp(name, "evalua") != 0) {
    lua_pushfstring(L, "no module '%s' inside evalua", name);
    return 1;
  }
  if (lua_dir[0]) {
    const char *rel = luaL_gsub(L, name, ".", "/");
    const char *path = lua_pushfstring(L, "%s/%s.lua", lua_dir, rel);
    if (!file_exists(path)) path = lua_pushfstring(L, "%s/%s/init.lua", lua_dir, rel);
    if (file_exists(path)) {
      if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
      lua_pushstring(L, path);
      return 2;
    }
  }
  for (const EmbeddedModule *m = embedded_modules; m->name; m++) {
    if (strcmp(m->name, name) == 0) {
      const char *chunk = lua_pushfstring(L, "@%s", m->path);
      if (luaL_loadbufferx(L, (const char *)m->source, m->size, chunk, "b") != LUA_OK)
        return lua_error(L);
      lua_pushstring(L, m->path);
      return 2;
    }
  }
  lua_pushfstring(L, "no module '%s' embedded in evalua", name);
  return 1;
}

static void preload(lua_State *L, const char *name, lua_CFunction open) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

static void install_searcher(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  /* After the preload searcher, before the path searchers: evalua's own modules
   * cannot be shadowed by a stray file on LUA_PATH, users' modules still load. */
  for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, search_evalua);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}

/* An error outside any protected call: say what it was before Lua aborts. */
static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "evalua: unprotected Lua error: %s\n", msg ? msg : "(error object is not a string)");
  return 0;
}

/* warn(): off until "@on", as in the lua command; pieces of one message are joined. */
static void warning(void *ud, const char *msg, int tocont) {
  static int on, continuing;
  (void)ud;
  if (!continuing && *msg == '@') {
    if (strcmp(msg, "@on") == 0) on = 1;
    else if (strcmp(msg, "@off") == 0) on = 0;
    return;
  }
  if (on) fprintf(stderr, "%s%s%s", continuing ? "" : "Lua warning: ", msg, tocont ? "" : "\n");
  continuing = tocont;
}

lua_State *state_new(void) {
  lua_State *L = lua_newstate(alloc_lua(), NULL);
  if (L == NULL) return NULL;
  lua_atpanic(L, panic);
  lua_setwarnf(L, warning, NULL);
  luaL_openlibs(L);
  find_lua_dir();
  preload(L, "cjson", luaopen_cjson);
  preload(L, "cjson.safe", luaopen_cjson_safe);
  preload(L, "evalua.sched", luaopen_evalua_sched);
  preload(L, "evalua.transfer", luaopen_evalua_transfer);
  preload(L, "evalua.duration", luaopen_evalua_duration);
  preload(L, "evalua.token", luaopen_evalua_token);
  preload(L, "evalua.version", luaopen_evalua_version);
  preload(L, "evalua.json", luaopen_evalua_json);
  preload(L, "evalua.fs", luaopen_evalua_fs);
  preload(L, "evalua.readline", luaopen_evalua_readline);
  preload(L, "evalua.redact", luaopen_evalua_redact);
  install_searcher(L);
  lua_pushstring(L, lua_dir[0] ? lua_dir : "lua");
  lua_setfield(L, LUA_REGISTRYINDEX, "evalua.lua_dir");
  return L;
}
