/*
 * fuzz_retry_after.c -- retry_after_parse (core/retry.c): a server's Retry-After
 * value, delta seconds or an HTTP date (through curl_getdate).
 * Invariant: the result is -1 (not understood) or a finite, non-negative delay.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"

static void check(const char *value, double now) {
  double secs = retry_after_parse(value, now);
  if (secs != -1 && !(isfinite(secs) && secs >= 0)) {
    fprintf(stderr, "retry_after_parse(\"%s\", %.0f) = %g\n", value, now, secs);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *value = malloc(size + 1);
  if (value == NULL) return 0;
  memcpy(value, data, size);
  value[size] = '\0';
  check(value, 1700000000);      /* 2023-11-14 */
  check(value, 0);
  free(value);
  return 0;
}
