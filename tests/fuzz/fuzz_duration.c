/*
 * fuzz_duration.c -- duration_parse (core/duration.c): the strings users write for
 * timeouts, intervals and backoff ("500ms", "1h30m", "2").
 * Invariant: a string it accepts means a finite, non-negative number of seconds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char *text = malloc(size + 1);
  double seconds = -1;
  if (text == NULL) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  if (duration_parse(text, &seconds) == 0 && !(isfinite(seconds) && seconds >= 0)) {
    fprintf(stderr, "duration_parse(\"%s\") accepted %g seconds\n", text, seconds);
    abort();
  }
  free(text);
  return 0;
}
