/*
 * fuzz_token.c -- OAuth token responses and JWTs (core/auth.c):
 *  - C: base64url_decode on the input, into a buffer of the input's size and into a
 *    short one (the bound must hold), and back from a base64url encoding of the input;
 *  - Lua (fuzz_token.lua): auth.token_lifetime(json.decode(input)) against its
 *    documented rule, auth.jwt_expiry on the input and on a JWT whose claims it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"
#include "fuzz_lua.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t encode(const unsigned char *in, size_t n, char *out) {
  size_t len = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned long v = (unsigned long)in[i] << 16;
    size_t chars = 2;
    if (i + 1 < n) v |= (unsigned long)in[i + 1] << 8, chars = 3;
    if (i + 2 < n) v |= in[i + 2], chars = 4;
    for (size_t j = 0; j < chars; j++) out[len++] = alphabet[(v >> (18 - 6 * j)) & 63];
  }
  return len;
}

static void fail(const char *what, long got) {
  fprintf(stderr, "base64url_decode: %s (returned %ld)\n", what, got);
  abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *out = malloc(size + 1), *text = malloc(size / 3 * 4 + 5);
  char small[3];
  long n;
  if (out == NULL || text == NULL) goto done;
  n = base64url_decode((const char *)data, size, out, size);
  if (n > (long)size || n < -1) fail("length out of range", n);
  n = base64url_decode((const char *)data, size, small, sizeof small);
  if (n > (long)sizeof small || n < -1) fail("wrote past a short buffer", n);
  n = base64url_decode(text, encode(data, size, text), out, size + 1);
  if (n != (long)size || memcmp(out, data, size) != 0) fail("encoded input did not decode back", n);
done:
  free(out);
  free(text);
  fuzz_lua_check("fuzz_token.lua", data, size);
  return 0;
}
