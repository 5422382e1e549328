/*
 * redact.c -- the process-wide list of secret values, replaced by "***" wherever
 * evalua prints (trace, errors, reports, journal).
 */
#include <stdlib.h>
#include <string.h>

#include "evalua.h"

#define MASK "***"

static char **secrets;
static size_t nsecrets, capsecrets;

/* Values shorter than this would mask ordinary words; such secrets are not secrets. */
#define MIN_SECRET 4

void redact_add(const char *secret) {
  size_t n = strlen(secret);
  if (n < MIN_SECRET) return;
  for (size_t i = 0; i < nsecrets; i++)
    if (strcmp(secrets[i], secret) == 0) return;
  if (nsecrets == capsecrets) {
    size_t cap = capsecrets ? capsecrets * 2 : 8;
    char **grown = realloc(secrets, cap * sizeof *grown);
    if (grown == NULL) abort();
    secrets = grown;
    capsecrets = cap;
  }
  secrets[nsecrets] = strdup(secret);
  if (secrets[nsecrets] == NULL) abort();
  nsecrets++;
}

void redact_clear(void) {
  for (size_t i = 0; i < nsecrets; i++) free(secrets[i]);
  free(secrets);
  secrets = NULL;
  nsecrets = capsecrets = 0;
}

/* The secret (if any) that starts at text[pos], longest first so that a secret that
 * contains another is masked whole. */
static size_t match_at(const char *text, size_t len, size_t pos) {
  size_t best = 0;
  for (size_t i = 0; i < nsecrets; i++) {
    size_t n = strlen(secrets[i]);
    if (n > best && n <= len - pos && memcmp(text + pos, secrets[i], n) == 0) best = n;
  }
  return best;
}

char *redact_dup(const char *text, size_t len, size_t *outlen) {
  /* Masks are never longer than MIN_SECRET, so the output never grows. */
  char *out = malloc(len + 1);
  size_t o = 0;
  if (out == NULL) abort();
  for (size_t i = 0; i < len;) {
    size_t n = nsecrets ? match_at(text, len, i) : 0;
    if (n) {
      memcpy(out + o, MASK, sizeof MASK - 1);
      o += sizeof MASK - 1;
      i += n;
    } else {
      out[o++] = text[i++];
    }
  }
  out[o] = '\0';
  if (outlen) *outlen = o;
  return out;
}

/* evalua.redact(text) -> text with secrets masked */
static int l_redact(lua_State *L) {
  size_t len, outlen;
  const char *s = luaL_checklstring(L, 1, &len);
  char *out = redact_dup(s, len, &outlen);
  lua_pushlstring(L, out, outlen);
  free(out);
  return 1;
}

/* register_secret(value): from now on `value` is masked everywhere */
static int l_register(lua_State *L) {
  redact_add(luaL_checkstring(L, 1));
  return 0;
}

int luaopen_evalua_redact(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"redact", l_redact}, {"register", l_register}, {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}
