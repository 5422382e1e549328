/*
 * fuzz_json.c -- JSON handed to Lua: require("evalua.json").decode (lua-cjson under
 * core/json.c) on any bytes, then json.encode (core/json.c) of what it decoded.
 * The checks are in fuzz_json.lua: decode(encode(v)) equals v, encoding is stable.
 */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  fuzz_lua_check("fuzz_json.lua", data, size);
  return 0;
}
