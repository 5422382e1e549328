/*
 * fuzz_json_decode.c -- core/json.c's decoder against lua-cjson as the reference: any
 * bytes to both; where both accept, the values must be equal (numbers as doubles, since
 * cjson has no integers). The checks are in fuzz_json_decode.lua.
 */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  fuzz_lua_check("fuzz_json_decode.lua", data, size);
  return 0;
}
