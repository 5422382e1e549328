/*
 * fuzz_redact.c -- the redaction matcher (core/redact.c: Aho-Corasick over any number of
 * patterns) against a naive reference that tries every pattern at every position.
 * Input: patterns separated by NUL bytes, then the text; in the text, byte 0x01 followed
 * by a byte k stands for pattern k (so that texts hold the patterns often).
 * Invariants: the matcher masks exactly what the reference masks (each run of
 * overlapping occurrences becomes one "***"); a secret given to redact_add_forms is masked
 * whole when it is the whole text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"

#define MAX_PATTERNS 64
#define MAX_PATTERN 64
#define MAX_TEXT 4096

typedef struct {
  const unsigned char *p;
  size_t n;
} Pattern;

typedef struct {
  size_t start, end;
} Span;

static int by_start(const void *a, const void *b) {
  const Span *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Every occurrence of every pattern; overlapping ones merged; each merged run -> "***". */
static char *naive(const Pattern *pats, size_t npats, const char *text, size_t len, size_t *outlen) {
  Span *spans = malloc((len * npats + 1) * sizeof *spans);
  char *out = malloc(3 * len + 1);    /* one-byte patterns grow into "***" */
  size_t n = 0, o = 0, from = 0;
  if (spans == NULL || out == NULL) abort();
  for (size_t i = 0; i < len; i++)
    for (size_t k = 0; k < npats; k++)
      if (pats[k].n > 0 && pats[k].n <= len - i && memcmp(text + i, pats[k].p, pats[k].n) == 0)
        spans[n++] = (Span){ i, i + pats[k].n };
  qsort(spans, n, sizeof *spans, by_start);
  for (size_t j = 0; j < n;) {
    size_t start = spans[j].start, end = spans[j].end;
    for (j++; j < n && spans[j].start < end; j++)
      if (spans[j].end > end) end = spans[j].end;
    memcpy(out + o, text + from, start - from);
    o += start - from;
    memcpy(out + o, "***", 3);
    o += 3;
    from = end;
  }
  memcpy(out + o, text + from, len - from);
  o += len - from;
  out[o] = '\0';
  free(spans);
  *outlen = o;
  return out;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  Pattern pats[MAX_PATTERNS];
  size_t npats = 0, start = 0, len = 0, got_len, want_len;
  char text[MAX_TEXT];
  const unsigned char *body;
  size_t body_len;
  Matcher *m;
  char *got, *want;
  for (size_t i = 0; i < size; i++) {
    if (data[i] != 0) continue;
    if (npats == MAX_PATTERNS) break;
    pats[npats++] = (Pattern){ data + start, i - start < MAX_PATTERN ? i - start : MAX_PATTERN };
    start = i + 1;
  }
  body = data + start;
  body_len = size - start;
  for (size_t i = 0; i < body_len && len < MAX_TEXT; i++) {
    if (body[i] == 1 && i + 1 < body_len && npats > 0) {
      const Pattern *p = &pats[body[++i] % npats];
      size_t n = p->n < MAX_TEXT - len ? p->n : MAX_TEXT - len;
      memcpy(text + len, p->p, n);
      len += n;
    } else {
      text[len++] = (char)body[i];
    }
  }

  m = matcher_new();
  for (size_t k = 0; k < npats; k++) matcher_add(m, (const char *)pats[k].p, pats[k].n);
  matcher_build(m);
  got = matcher_mask(m, text, len, &got_len);
  want = naive(pats, npats, text, len, &want_len);
  if (got_len != want_len || memcmp(got, want, got_len) != 0) {
    fprintf(stderr, "%zu patterns, text of %zu bytes: matcher gave %zu bytes \"%.*s\", reference %zu \"%.*s\"\n",
            npats, len, got_len, (int)got_len, got, want_len, (int)want_len, want);
    abort();
  }
  matcher_free(m);
  free(got);
  free(want);

  /* The forms of a secret include the secret itself. */
  for (size_t k = 0; k < npats; k++) {
    m = matcher_new();
    redact_add_forms(m, (const char *)pats[k].p, pats[k].n);
    matcher_build(m);
    got = matcher_mask(m, (const char *)pats[k].p, pats[k].n, &got_len);
    if (pats[k].n > 0 && (got_len != 3 || memcmp(got, "***", 3) != 0)) {
      fprintf(stderr, "secret \"%.*s\" not masked by its own forms\n", (int)pats[k].n, pats[k].p);
      abort();
    }
    free(got);
    matcher_free(m);
  }
  return 0;
}
