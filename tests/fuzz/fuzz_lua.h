/*
 * fuzz_lua.h -- shared by the fuzz targets that drive Lua code: one evalua Lua state
 * per process (state_new, embedded modules), a check function loaded from
 * tests/fuzz/<name>.lua, and Lua line coverage fed to libFuzzer.
 */
#ifndef FUZZ_LUA_H
#define FUZZ_LUA_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

/* The state, created on first use with the script's check function loaded. */
lua_State *fuzz_lua_state(const char *script);
/* Call the script's check function with the input as a Lua string. Expected failures
 * are the script's business; an error that escapes it is a bug: print it and abort. */
void fuzz_lua_check(const char *script, const uint8_t *data, size_t size);

#endif
