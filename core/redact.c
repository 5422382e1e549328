/*
 * redact.c -- the process-wide set of secret values, replaced by "***" wherever evalua
 * prints (trace, errors, reports, journal).
 *
 * Each secret is matched in every form an output may hold it in: as given, lower- and
 * upper-cased, HTML-escaped (&#39;, &#x27;, &apos;, or quotes left bare), JSON- and
 * TAP-escaped, percent-encoded (upper or lower hex, '+' or %20 for a space, with or without
 * JavaScript's !'()*), and HTML- or JSON-escaped JSON. All forms of all secrets go into one
 * Aho-Corasick automaton, so a text is scanned once whatever the number of secrets; the
 * automaton is rebuilt on the first redaction after the set changed.
 *
 * No Debian library fits: Hyperscan (libhyperscan) is x86-64 only and compiles a database
 * per set (the set changes at each token refresh); there is no Aho-Corasick C library.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evalua.h"

#define MASK "***"
#define MASK_LEN (sizeof MASK - 1)

/* Values shorter than this would mask ordinary words; such secrets are not secrets. */
#define MIN_SECRET 4

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (p == NULL) abort();
  return p;
}

/* ---- the matcher ---- */

/* A node of the trie. Nodes near the root (depth <= 1) and nodes with many children get a
 * dense table of 256 transitions with the failure links already followed; the others keep
 * their edges in a short list and fall back along `fail`. */
typedef struct {
  int32_t fail;
  int32_t out;              /* length of the longest pattern ending here (0: none) */
  int32_t edges, nedges;    /* build: first edge of a linked list; built: a slice */
  int32_t dense;            /* index of its dense table, or -1 */
  int32_t depth;
} Node;

struct Matcher {
  Node *nodes;
  size_t nnodes, capnodes;
  /* edges: while building, linked lists (next); once built, contiguous slices per node */
  unsigned char *ebyte;
  int32_t *etarget, *enext;
  size_t nedges, capedges;
  int32_t *dense;           /* 256 per dense table */
  size_t ndense;
  int built;
};

#define DENSE_MIN 12

static int32_t new_node(Matcher *m, int32_t depth) {
  if (m->nnodes == m->capnodes) {
    m->capnodes = m->capnodes ? m->capnodes * 2 : 64;
    m->nodes = xrealloc(m->nodes, m->capnodes * sizeof *m->nodes);
  }
  m->nodes[m->nnodes] = (Node){ .edges = -1, .dense = -1, .depth = depth };
  return (int32_t)m->nnodes++;
}

Matcher *matcher_new(void) {
  Matcher *m = calloc(1, sizeof *m);
  if (m == NULL) abort();
  new_node(m, 0);
  return m;
}

void matcher_free(Matcher *m) {
  if (m == NULL) return;
  free(m->nodes);
  free(m->ebyte);
  free(m->etarget);
  free(m->enext);
  free(m->dense);
  free(m);
}

/* The child of `s` by byte c while building (linked edges), or -1. */
static int32_t build_child(const Matcher *m, int32_t s, unsigned char c) {
  for (int32_t e = m->nodes[s].edges; e >= 0; e = m->enext[e])
    if (m->ebyte[e] == c) return m->etarget[e];
  return -1;
}

void matcher_add(Matcher *m, const char *pattern, size_t n) {
  int32_t s = 0;
  if (m->built || n == 0 || n > INT32_MAX) return;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)pattern[i];
    int32_t next = build_child(m, s, c);
    if (next < 0) {
      next = new_node(m, m->nodes[s].depth + 1);
      if (m->nedges == m->capedges) {
        m->capedges = m->capedges ? m->capedges * 2 : 64;
        m->ebyte = xrealloc(m->ebyte, m->capedges);
        m->etarget = xrealloc(m->etarget, m->capedges * sizeof *m->etarget);
        m->enext = xrealloc(m->enext, m->capedges * sizeof *m->enext);
      }
      m->ebyte[m->nedges] = c;
      m->etarget[m->nedges] = next;
      m->enext[m->nedges] = m->nodes[s].edges;
      m->nodes[s].edges = (int32_t)m->nedges++;
    }
    s = next;
  }
  m->nodes[s].out = (int32_t)n;
}

/* The state after reading c in state s, once built. The root is dense, so this ends. */
static inline int32_t step(const Matcher *m, int32_t s, unsigned char c) {
  for (;;) {
    const Node *n = &m->nodes[s];
    if (n->dense >= 0) return m->dense[(size_t)n->dense * 256 + c];
    for (int32_t e = n->edges, end = n->edges + n->nedges; e < end; e++)
      if (m->ebyte[e] == c) return m->etarget[e];
    s = n->fail;
  }
}

/* Failure links in breadth-first order, then edges laid out per node and the dense
 * tables filled (in the same order, so a node's fail is complete before it). */
void matcher_build(Matcher *m) {
  int32_t *order, *targets;
  unsigned char *bytes;
  size_t head = 0, tail = 0, k = 0;
  if (m->built) return;
  order = xrealloc(NULL, m->nnodes * sizeof *order);
  bytes = xrealloc(NULL, m->nedges);
  targets = xrealloc(NULL, m->nedges * sizeof *targets);
  order[tail++] = 0;
  while (head < tail) {
    int32_t u = order[head++];
    for (int32_t e = m->nodes[u].edges; e >= 0; e = m->enext[e]) {
      int32_t v = m->etarget[e], f = m->nodes[u].fail, to = -1;
      if (u != 0) {
        while ((to = build_child(m, f, m->ebyte[e])) < 0 && f != 0) f = m->nodes[f].fail;
      }
      m->nodes[v].fail = to > 0 ? to : 0;
      if (m->nodes[v].out == 0) m->nodes[v].out = m->nodes[m->nodes[v].fail].out;
      order[tail++] = v;
    }
  }
  /* contiguous edges */
  for (size_t i = 0; i < m->nnodes; i++) {
    int32_t first = (int32_t)k;
    for (int32_t e = m->nodes[i].edges; e >= 0; e = m->enext[e]) {
      bytes[k] = m->ebyte[e];
      targets[k++] = m->etarget[e];
    }
    m->nodes[i].edges = first;
    m->nodes[i].nedges = (int32_t)k - first;
    if (m->nodes[i].depth <= 1 || m->nodes[i].nedges >= DENSE_MIN) m->nodes[i].dense = (int32_t)m->ndense++;
  }
  free(m->ebyte);
  free(m->etarget);
  free(m->enext);
  m->ebyte = bytes;
  m->etarget = targets;
  m->enext = NULL;
  m->dense = xrealloc(NULL, m->ndense * 256 * sizeof *m->dense);
  for (size_t i = 0; i < m->nnodes; i++) {
    const Node *n = &m->nodes[order[i]];
    int32_t *row;
    if (n->dense < 0) continue;
    row = m->dense + (size_t)n->dense * 256;
    for (int c = 0; c < 256; c++) row[c] = order[i] == 0 ? 0 : step(m, n->fail, (unsigned char)c);
    for (int32_t e = n->edges; e < n->edges + n->nedges; e++) row[m->ebyte[e]] = m->etarget[e];
  }
  free(order);
  m->built = 1;
}

/* A copy of text with every occurrence of a pattern replaced by MASK; occurrences that
 * overlap are masked as one. */
char *matcher_mask(const Matcher *m, const char *text, size_t len, size_t *outlen) {
  size_t *spans = NULL, nspans = 0, capspans = 0, o = 0, from = 0, size = len + 1;
  char *out;
  int32_t s = 0;
  for (size_t i = 0; m->nnodes > 1 && i < len; i++) {
    int32_t n;
    s = step(m, s, (unsigned char)text[i]);
    if ((n = m->nodes[s].out) == 0) continue;
    size_t start = i + 1 - (size_t)n;
    while (nspans > 0 && spans[2 * nspans - 1] > start) {   /* overlaps the previous span */
      nspans--;
      if (spans[2 * nspans] < start) start = spans[2 * nspans];
    }
    if (nspans == capspans) {
      capspans = capspans ? capspans * 2 : 16;
      spans = xrealloc(spans, capspans * 2 * sizeof *spans);
    }
    spans[2 * nspans] = start;
    spans[2 * nspans + 1] = i + 1;
    nspans++;
  }
  for (size_t j = 0; j < nspans; j++) size = size - (spans[2 * j + 1] - spans[2 * j]) + MASK_LEN;
  out = xrealloc(NULL, size);
  for (size_t j = 0; j < nspans; j++) {
    memcpy(out + o, text + from, spans[2 * j] - from);
    o += spans[2 * j] - from;
    memcpy(out + o, MASK, MASK_LEN);
    o += MASK_LEN;
    from = spans[2 * j + 1];
  }
  memcpy(out + o, text + from, len - from);
  o += len - from;
  out[o] = '\0';
  free(spans);
  if (outlen) *outlen = o;
  return out;
}

/* Whether a pattern occurs in text (so most texts, which hold none, are not copied). */
static int matcher_hits(const Matcher *m, const char *text, size_t len) {
  int32_t s = 0;
  for (size_t i = 0; m->nnodes > 1 && i < len; i++) {
    s = step(m, s, (unsigned char)text[i]);
    if (m->nodes[s].out != 0) return 1;
  }
  return 0;
}

/* ---- the forms a secret takes in outputs ---- */

/* Buf and buf_append are transfer.c's; out of memory ends the process, as xrealloc. */
static void put(Buf *b, const char *s, size_t n) {
  if (n > 0 && buf_append(b, s, n) != 0) abort();
}

static void putc_(Buf *b, char c) { put(b, &c, 1); }

static void put_hex(Buf *b, const char *prefix, unsigned c, int width, int upper) {
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  put(b, prefix, strlen(prefix));
  for (int i = width - 1; i >= 0; i--) putc_(b, digits[(c >> (4 * i)) & 15]);
}

enum { ENC_RAW, ENC_HTML_39, ENC_HTML_X27, ENC_HTML_APOS, ENC_HTML_BARE, ENC_JSON, ENC_JSON_SLASH, ENC_YAML,
       ENC_TAP, ENC_URL, NENC };
#define URL_LOWER 1   /* lower-case hex digits */
#define URL_PLUS 2    /* '+' for a space */
#define URL_JS 4      /* !'()* left as they are (encodeURIComponent) */

static void encode(Buf *b, int enc, int url_flags, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (enc) {
    case ENC_HTML_39: case ENC_HTML_X27: case ENC_HTML_APOS: case ENC_HTML_BARE:
      if (c == '&') put(b, "&amp;", 5);
      else if (c == '<') put(b, "&lt;", 4);
      else if (c == '>') put(b, "&gt;", 4);
      else if (c == '"' && enc != ENC_HTML_BARE) put(b, "&quot;", 6);
      else if (c == '\'' && enc == ENC_HTML_39) put(b, "&#39;", 5);
      else if (c == '\'' && enc == ENC_HTML_X27) put(b, "&#x27;", 6);
      else if (c == '\'' && enc == ENC_HTML_APOS) put(b, "&apos;", 6);
      else putc_(b, (char)c);
      break;
    case ENC_JSON: case ENC_JSON_SLASH: case ENC_YAML:   /* YAML: TAP's double-quoted scalars */
      if (c == '"' || c == '\\' || (c == '/' && enc == ENC_JSON_SLASH)) {
        putc_(b, '\\');
        putc_(b, (char)c);
      } else if (c == '\n') put(b, "\\n", 2);
      else if (c == '\r') put(b, "\\r", 2);
      else if (c == '\t') put(b, "\\t", 2);
      else if (c < 0x20 || c == 0x7f) put_hex(b, enc == ENC_YAML ? "\\x" : "\\u", c, enc == ENC_YAML ? 2 : 4, enc == ENC_YAML);
      else putc_(b, (char)c);
      break;
    case ENC_TAP:                                       /* a TAP test description */
      if (c == '\\' || c == '#') putc_(b, '\\');
      putc_(b, (char)c);
      break;
    case ENC_URL:
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c) ||
          ((url_flags & URL_JS) && strchr("!'()*", c)))
        putc_(b, (char)c);
      else if (c == ' ' && (url_flags & URL_PLUS)) putc_(b, '+');
      else put_hex(b, "%", c, 2, !(url_flags & URL_LOWER));
      break;
    default:
      putc_(b, (char)c);
    }
  }
}

static void ascii_case(char *s, size_t n, int upper) {
  for (size_t i = 0; i < n; i++) {
    if (upper && s[i] >= 'a' && s[i] <= 'z') s[i] = (char)(s[i] - 'a' + 'A');
    if (!upper && s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
  }
}

/* The forms of one secret, collected in one buffer, then added once each. */
typedef struct {
  Buf text;
  size_t *start, *len, n, cap;
} Forms;

static void add_form(Forms *f, const char *s, size_t n) {
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 64;
    f->start = xrealloc(f->start, f->cap * sizeof *f->start);
    f->len = xrealloc(f->len, f->cap * sizeof *f->len);
  }
  f->start[f->n] = f->text.len;
  f->len[f->n++] = n;
  put(&f->text, s, n);
}

/* Adds enc(s) and its lower- and upper-cased copies. */
static void add_encoded(Forms *f, Buf *b, int enc, int url_flags, const char *s, size_t n) {
  b->len = 0;
  encode(b, enc, url_flags, s, n);
  add_form(f, b->data, b->len);
  for (int upper = 0; upper <= 1; upper++) {
    ascii_case(b->data, b->len, upper);
    add_form(f, b->data, b->len);
  }
}

static const Forms *sorting;
static int form_order(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  if (sorting->len[x] != sorting->len[y]) return sorting->len[x] < sorting->len[y] ? -1 : 1;
  return memcmp(sorting->text.data + sorting->start[x], sorting->text.data + sorting->start[y], sorting->len[x]);
}

static void forms_free(Forms *f) {
  free(f->text.data);
  free(f->start);
  free(f->len);
  *f = (Forms){ 0 };
}

/* Every form of one secret: each encoding of the secret as given, lower- and
 * upper-cased, each of those cased again; and JSON inside HTML or inside JSON. Most
 * coincide (a secret of letters and digits has two or three): `out` gets each distinct
 * one once. */
static void forms_of(const char *secret, size_t n, Forms *out) {
  Buf cased = { 0 }, enc = { 0 }, inner = { 0 };
  Forms all = { 0 };
  size_t *order;
  if (n == 0) return;                              /* nothing to mask */
  for (int c = 0; c < 3; c++) {
    cased.len = 0;
    put(&cased, secret, n);
    if (c) ascii_case(cased.data, n, c == 2);
    for (int e = 0; e < NENC; e++) {
      for (int u = 0; u < (e == ENC_URL ? 8 : 1); u++) add_encoded(&all, &enc, e, u, cased.data, n);
    }
    inner.len = 0;
    encode(&inner, ENC_JSON, 0, cased.data, n);
    add_encoded(&all, &enc, ENC_HTML_39, 0, inner.data, inner.len);
    add_encoded(&all, &enc, ENC_JSON, 0, inner.data, inner.len);
  }
  order = xrealloc(NULL, all.n * sizeof *order);
  for (size_t i = 0; i < all.n; i++) order[i] = i;
  sorting = &all;
  qsort(order, all.n, sizeof *order, form_order);
  for (size_t i = 0; i < all.n; i++)
    if (i == 0 || form_order(&order[i - 1], &order[i]) != 0) add_form(out, all.text.data + all.start[order[i]], all.len[order[i]]);
  sorting = NULL;
  free(order);
  forms_free(&all);
  free(cased.data);
  free(enc.data);
  free(inner.data);
}

static void add_forms(Matcher *m, const Forms *f) {
  for (size_t i = 0; i < f->n; i++) matcher_add(m, f->text.data + f->start[i], f->len[i]);
}

void redact_add_forms(Matcher *m, const char *secret, size_t n) {
  Forms f = { 0 };
  forms_of(secret, n, &f);
  add_forms(m, &f);
  forms_free(&f);
}

/* ---- the process's set ---- */

typedef struct {
  char *value;
  size_t len;
  int permanent;            /* registered with redact_add: for the life of the process */
  long holds;               /* redact_hold minus redact_release */
  Forms forms;              /* computed once: the automaton is rebuilt from them */
} Secret;

static Secret *secrets;
static size_t nsecrets, capsecrets;
static Matcher *matcher;    /* NULL: rebuild before the next redaction */

static Secret *find_secret(const char *value) {
  for (size_t i = 0; i < nsecrets; i++)
    if (strcmp(secrets[i].value, value) == 0) return &secrets[i];
  return NULL;
}

static Secret *insert(const char *value) {
  Secret *s = find_secret(value);
  size_t n = strlen(value);
  if (s || n < MIN_SECRET) return s;
  if (nsecrets == capsecrets) {
    capsecrets = capsecrets ? capsecrets * 2 : 16;
    secrets = xrealloc(secrets, capsecrets * sizeof *secrets);
  }
  s = &secrets[nsecrets++];
  *s = (Secret){ .value = strdup(value), .len = n };
  if (s->value == NULL) abort();
  forms_of(s->value, n, &s->forms);
  matcher_free(matcher);
  matcher = NULL;
  return s;
}

void redact_add(const char *secret) {
  Secret *s = insert(secret);
  if (s) s->permanent = 1;
}

void redact_hold(const char *secret) {
  Secret *s = insert(secret);
  if (s) s->holds++;
}

void redact_release(const char *secret) {
  Secret *s = find_secret(secret);
  if (s == NULL || --s->holds > 0 || s->permanent) return;
  free(s->value);
  forms_free(&s->forms);
  *s = secrets[--nsecrets];
  matcher_free(matcher);
  matcher = NULL;
}

size_t redact_count(void) { return nsecrets; }

void redact_clear(void) {
  for (size_t i = 0; i < nsecrets; i++) {
    free(secrets[i].value);
    forms_free(&secrets[i].forms);
  }
  free(secrets);
  secrets = NULL;
  nsecrets = capsecrets = 0;
  matcher_free(matcher);
  matcher = NULL;
}

static const Matcher *current(void) {
  if (matcher == NULL) {
    matcher = matcher_new();
    for (size_t i = 0; i < nsecrets; i++) add_forms(matcher, &secrets[i].forms);
    matcher_build(matcher);
  }
  return matcher;
}

char *redact_dup(const char *text, size_t len, size_t *outlen) {
  return matcher_mask(current(), text, len, outlen);
}

/* ---- URLs ---- */

/* Query parameters whose values are credentials whether or not they were registered. */
static const char *const secret_params[] = {
  "password", "passwd", "pass", "secret", "client_secret", "access_token", "refresh_token",
  "id_token", "token", "api_key", "apikey", "key", "signature", "sig", "assertion", "client_assertion",
  "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
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
  char *out = xrealloc(NULL, 3 * len + 4);
  const char *p = masked, *end = masked + len, *auth = strstr(masked, "://");
  size_t o = 0;
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
      memcpy(out + o, MASK, MASK_LEN);
      o += MASK_LEN;
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
        memcpy(out + o, MASK, MASK_LEN);
        o += MASK_LEN;
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

/* ---- Lua ---- */

/* evalua.redact(text) -> text with secrets masked, in every form they may take */
static int l_redact(lua_State *L) {
  size_t len, outlen;
  const char *s = luaL_checklstring(L, 1, &len);
  char *out;
  if (!matcher_hits(current(), s, len)) {     /* nothing to mask: the text itself */
    lua_settop(L, 1);
    return 1;
  }
  out = redact_dup(s, len, &outlen);
  lua_pushlstring(L, out, outlen);
  free(out);
  return 1;
}

/* redact_url(url) -> the URL with secrets, user:password and credential parameters masked */
static int l_redact_url(lua_State *L) {
  char *out = redact_url(luaL_checkstring(L, 1));
  lua_pushstring(L, out);
  free(out);
  return 1;
}

/* register(value): from now on `value` is masked everywhere */
static int l_register(lua_State *L) {
  redact_add(luaL_checkstring(L, 1));
  return 0;
}

/* count() -> how many values are registered (tokens leave the set after their last use) */
static int l_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)redact_count());
  return 1;
}

int luaopen_evalua_redact(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"redact", l_redact}, {"redact_url", l_redact_url}, {"register", l_register}, {"count", l_count},
    {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}
