/*
 * trace.c -- the -v trace: every request, response header and attempt on stderr,
 * with credential headers masked and secrets and credential URL parameters redacted;
 * and reading a response's header block (one header's value, or all as a table).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "evalua.h"

int trace_on;

static const char *const secret_headers[] = {
  "authorization", "proxy-authorization", "x-api-key", "x-secret-key", "cookie", "set-cookie",
};

static int header_is_secret(const char *line) {
  for (size_t i = 0; i < sizeof secret_headers / sizeof secret_headers[0]; i++) {
    size_t n = strlen(secret_headers[i]);
    if (strncasecmp(line, secret_headers[i], n) == 0 && line[n] == ':') return 1;
  }
  return 0;
}

static void trace_line(const char *prefix, const char *text, size_t len) {
  char *safe = redact_dup(text, len, &len);
  fprintf(stderr, "%s%.*s\n", prefix, (int)len, safe);
  free(safe);
}

void trace_header(const char *prefix, const char *line, size_t len) {
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
  if (len == 0) return;
  if (header_is_secret(line)) {
    const char *colon = memchr(line, ':', len);
    fprintf(stderr, "%s%.*s: ***\n", prefix, (int)(colon - line), line);
    return;
  }
  /* A Location (or Content-Location) is a URL: its credential parameters go too. */
  if ((len > 9 && strncasecmp(line, "location:", 9) == 0) ||
      (len > 17 && strncasecmp(line, "content-location:", 17) == 0)) {
    const char *colon = memchr(line, ':', len), *v = colon + 1;
    char *url, *safe;
    while (v < line + len && isspace((unsigned char)*v)) v++;
    url = strndup(v, (size_t)(line + len - v));
    safe = url ? redact_url(url) : NULL;
    fprintf(stderr, "%s%.*s: %s\n", prefix, (int)(colon - line), line, safe ? safe : "***");
    free(safe);
    free(url);
    return;
  }
  trace_line(prefix, line, len);
}

void trace_request(const Request *r) {
  char *url = redact_url(r->url);
  fprintf(stderr, "> %s %s\n", r->method, url);
  free(url);
  for (struct curl_slist *h = r->headers; h; h = h->next) trace_header("> ", h->data, strlen(h->data));
  if (r->body_len) fprintf(stderr, "> (%zu bytes of body)\n", r->body_len);
}

void trace_note(const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  trace_line("", line, strlen(line));
}

/* The value of a response header (first occurrence) in a raw header block, copied
 * into out; 0 when absent. */
int http_find_header(const char *head, size_t len, const char *name, char *out, size_t outlen) {
  size_t n = strlen(name);
  const char *p = head, *end = head + len;
  if (len == 0 || head == NULL) return 0;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t linelen = eol ? (size_t)(eol - p) : (size_t)(end - p);
    if (linelen > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char *v = p + n + 1;
      size_t vlen;
      while (v < p + linelen && isspace((unsigned char)*v)) v++;
      vlen = (size_t)(p + linelen - v);
      while (vlen > 0 && isspace((unsigned char)v[vlen - 1])) vlen--;
      if (vlen >= outlen) vlen = outlen - 1;
      memcpy(out, v, vlen);
      out[vlen] = '\0';
      return 1;
    }
    p = eol ? eol + 1 : NULL;
  }
  return 0;
}

/* The header block as a table: lowercase names, values trimmed, repeated headers
 * joined with ", " (lua-http's convention). One pass over the text. */
void http_push_headers(lua_State *L, const char *p, size_t len) {
  const char *end = p + len;
  char name[128];
  lua_newtable(L);
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p)), *line_end = eol ? eol : end, *colon, *v, *ve;
    size_t n;
    colon = memchr(p, ':', (size_t)(line_end - p));
    if (colon && colon > p && (size_t)(colon - p) < sizeof name) {
      for (n = 0; p + n < colon && !isspace((unsigned char)p[n]); n++) name[n] = (char)tolower((unsigned char)p[n]);
      if (p + n == colon) {
        for (v = colon + 1; v < line_end && isspace((unsigned char)*v); v++) {}
        for (ve = line_end; ve > v && isspace((unsigned char)ve[-1]); ve--) {}
        lua_pushlstring(L, name, n);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {
          lua_pushliteral(L, ", ");
          lua_pushlstring(L, v, (size_t)(ve - v));
          lua_concat(L, 3);
        } else {
          lua_pop(L, 1);
          lua_pushlstring(L, v, (size_t)(ve - v));
        }
        lua_rawset(L, -3);
      }
    }
    p = eol ? eol + 1 : end;
  }
}
