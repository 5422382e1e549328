/*
 * fuzz_headers.c -- response header parsing, both sides:
 *  - C: the Retry-After lookup a retry decision makes (http_find_header, then
 *    retry_after_parse), exactly as on_done does it.
 *  - the `headers` table of a response (http_push_headers, core/trace.c), made here
 *    and checked by fuzz_headers.lua (as the global `parsed`).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"
#include "fuzz_lua.h"

static void check_lookup(const char *head, size_t len, size_t outlen) {
  char value[128];
  double after;
  memset(value, 'X', sizeof value);
  if (!http_find_header(head, len, "retry-after", value, outlen)) return;
  if (memchr(value, '\0', outlen) == NULL) {
    fprintf(stderr, "http_find_header: value not terminated within %zu bytes\n", outlen);
    abort();
  }
  if (isspace((unsigned char)value[0])) {
    fprintf(stderr, "http_find_header: value \"%s\" starts with white space\n", value);
    abort();
  }
  after = retry_after_parse(value, 1700000000);
  if (after != -1 && !(isfinite(after) && after >= 0)) {
    fprintf(stderr, "retry_after_parse(\"%s\") = %g\n", value, after);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  check_lookup((const char *)data, size, 128);   /* the buffer size on_done uses */
  check_lookup((const char *)data, size, 4);     /* truncation */
  lua_State *L = fuzz_lua_state("fuzz_headers.lua");
  http_push_headers(L, (const char *)data, size);
  lua_setglobal(L, "parsed");
  fuzz_lua_check("fuzz_headers.lua", data, size);
  return 0;
}
