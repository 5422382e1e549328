/*
 * fuzz_headers.c -- response header parsing, both sides:
 *  - C: the Retry-After lookup a retry decision makes (find_header, then
 *    retry_after_parse), exactly as on_done does it. find_header is static in
 *    core/http.c, so this file compiles http.c into itself and the target links the
 *    other core objects without http.o.
 *  - Lua: the `headers` table of a response (parse_headers in lua/evalua/http.lua),
 *    checked by fuzz_headers.lua.
 */
#include "../../core/http.c"

#include <math.h>

#include "fuzz_lua.h"

static void check_lookup(const Buf *head, size_t outlen) {
  char value[128];
  double after;
  memset(value, 'X', sizeof value);
  if (!find_header(head, "retry-after", value, outlen)) return;
  if (memchr(value, '\0', outlen) == NULL) {
    fprintf(stderr, "find_header: value not terminated within %zu bytes\n", outlen);
    abort();
  }
  if (isspace((unsigned char)value[0])) {
    fprintf(stderr, "find_header: value \"%s\" starts with white space\n", value);
    abort();
  }
  after = retry_after_parse(value, 1700000000);
  if (after != -1 && !(isfinite(after) && after >= 0)) {
    fprintf(stderr, "retry_after_parse(\"%s\") = %g\n", value, after);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  Buf head = {0};
  /* As on_header builds it: the header block, NUL-terminated (curl always delivers
   * at least a status line, so the buffer is allocated even when size is 0 here). */
  if (buf_append(&head, (const char *)data, size) != 0) return 0;
  check_lookup(&head, 128);       /* the buffer size on_done uses */
  check_lookup(&head, 4);         /* truncation */
  buf_free(&head);
  fuzz_lua_check("fuzz_headers.lua", data, size);
  return 0;
}
