/*
 * fuzz_url.c -- the URL checks of http.request (check_url in lua/evalua/http.lua),
 * called outside any task: a URL that passes them fails later with "only inside a
 * task". fuzz_url.lua accepts only the documented refusals.
 */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  fuzz_lua_check("fuzz_url.lua", data, size);
  return 0;
}
