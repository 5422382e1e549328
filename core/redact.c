/*
 * redact.c -- the process-wide list of secret values, replaced by "***" wherever
 * evalua prints (trace, errors, reports, journal).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evalua.h"

#define MASK "***"

static char **secrets;
static size_t *lengths;            /* strlen of each secret, computed once */
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
    size_t *glen = realloc(lengths, cap * sizeof *glen);
    if (grown == NULL || glen == NULL) abort();
    secrets = grown;
    lengths = glen;
    capsecrets = cap;
  }
  secrets[nsecrets] = strdup(secret);
  if (secrets[nsecrets] == NULL) abort();
  lengths[nsecrets] = n;
  nsecrets++;
}

void redact_clear(void) {
  for (size_t i = 0; i < nsecrets; i++) free(secrets[i]);
  free(secrets);
  free(lengths);
  secrets = NULL;
  lengths = NULL;
  nsecrets = capsecrets = 0;
}

/* The secret (if any) that starts at text[pos], longest first so that a secret that
 * contains another is masked whole. */
static size_t match_at(const char *text, size_t len, size_t pos) {
  size_t best = 0;
  for (size_t i = 0; i < nsecrets; i++) {
    size_t n = lengths[i];
    if (n > best && n <= len - pos && text[pos] == secrets[i][0] && memcmp(text + pos, secrets[i], n) == 0) best = n;
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

/* Query parameters whose values are credentials whether or not they were registered. */
static const char *const secret_params[] = {
  "password", "passwd", "pass", "secret", "client_secret", "access_token", "refresh_token",
  "id_token", "token", "api_key", "apikey", "key", "signature", "sig",
};

static int secret_param(const char *name, size_t n) {
  for (size_t i = 0; i < sizeof secret_params / sizeof secret_params[0]; i++)
    if (strlen(secret_params[i]) == n && strncasecmp(name, secret_params[i], n) == 0) return 1;
  return 0;
}

char *redact_url(const char *url) {
  size_t len;
  char *masked = redact_dup(url, strlen(url), &len);
  /* Every mask replaces at least one character, so three times the length is plenty. */
  char *out = malloc(3 * len + 4);
  const char *p = masked, *end = masked + len, *auth = strstr(masked, "://");
  size_t o = 0;
  if (out == NULL) abort();
  if (auth) {
    const char *host = auth + 3, *stop = host, *at = NULL, *colon;
    while (stop < end && *stop != '/' && *stop != '?' && *stop != '#') {
      if (*stop == '@') at = stop;
      stop++;
    }
    colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
    if (colon) {                                   /* scheme://user:password@host */
      memcpy(out, masked, (size_t)(colon + 1 - masked));
      o = (size_t)(colon + 1 - masked);
      memcpy(out + o, MASK, sizeof MASK - 1);
      o += sizeof MASK - 1;
      p = at;
    }
  }
  while (p < end) {
    const char *q = memchr(p, '?', (size_t)(end - p));
    size_t upto = q ? (size_t)(q + 1 - p) : (size_t)(end - p);
    memcpy(out + o, p, upto);
    o += upto;
    p += upto;
    if (!q) break;
    while (p < end && *p != '#') {                 /* name=value pairs up to the fragment */
      const char *amp = p, *eq;
      while (amp < end && *amp != '&' && *amp != '#') amp++;
      eq = memchr(p, '=', (size_t)(amp - p));
      if (eq && secret_param(p, (size_t)(eq - p))) {
        memcpy(out + o, p, (size_t)(eq + 1 - p));
        o += (size_t)(eq + 1 - p);
        memcpy(out + o, MASK, sizeof MASK - 1);
        o += sizeof MASK - 1;
      } else {
        memcpy(out + o, p, (size_t)(amp - p));
        o += (size_t)(amp - p);
      }
      p = amp;
      if (p < end && *p == '&') out[o++] = *p++;
    }
  }
  out[o] = '\0';
  free(masked);
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
/* redact_url(url) -> the URL with secrets, user:password and credential parameters masked */
static int l_redact_url(lua_State *L) {
  char *out = redact_url(luaL_checkstring(L, 1));
  lua_pushstring(L, out);
  free(out);
  return 1;
}

static int l_register(lua_State *L) {
  redact_add(luaL_checkstring(L, 1));
  return 0;
}

int luaopen_evalua_redact(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"redact", l_redact}, {"redact_url", l_redact_url}, {"register", l_register}, {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}
