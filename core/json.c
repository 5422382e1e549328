/*
 * json.c -- the `json` module. Both directions are done here rather than by lua-cjson
 * (which stays preloaded for users as `cjson`): cjson 2.1.0 cannot write an empty array,
 * sorts no keys and cannot indent -- all things reports and request bodies need -- and
 * decodes every number as a double and every [] as a plain table.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evalua.h"

#define ARRAY_MT "evalua.json.array"
#define MAX_DEPTH 1000

typedef struct Out {
  char *data;
  size_t len, cap;
} Out;

typedef struct Encoder {
  lua_State *L;
  Out out;
  int indent;              /* spaces per level, 0 for compact output */
  int sort_keys;
  int depth;
  const char *error;       /* static reason, set on failure */
  int busy;                /* the shared one is encoding (see l_encode) */
  /* Path to the value at fault, one segment per level: an index or a key. */
  struct { lua_Integer index; const char *key; } path[MAX_DEPTH + 1];
} Encoder;

static int put(Encoder *e, const char *s, size_t n) {
  if (e->out.len + n + 1 > e->out.cap) {
    size_t cap = e->out.cap ? e->out.cap : 256;
    char *grown;
    while (cap < e->out.len + n + 1) cap *= 2;
    grown = realloc(e->out.data, cap);
    if (grown == NULL) {
      e->error = "out of memory";
      return -1;
    }
    e->out.data = grown;
    e->out.cap = cap;
  }
  memcpy(e->out.data + e->out.len, s, n);
  e->out.len += n;
  return 0;
}

#define PUTS(e, lit) put((e), (lit), sizeof(lit) - 1)

static int newline(Encoder *e) {
  if (!e->indent) return 0;
  if (PUTS(e, "\n")) return -1;
  for (int i = 0; i < e->depth * e->indent; i++)
    if (PUTS(e, " ")) return -1;
  return 0;
}

/* A string in quotes: runs of characters that need no escape are copied at once. */
static int put_string(Encoder *e, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t plain = 0;                     /* start of the run not yet copied */
  if (PUTS(e, "\"")) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc;
    char u[7];
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
    if (i > plain && put(e, s + plain, i - plain)) return -1;
    plain = i + 1;
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default:                            /* the other control characters, and DEL */
      u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
      u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
      esc = u;
    }
    if (put(e, esc, strlen(esc))) return -1;
  }
  if (n > plain && put(e, s + plain, n - plain)) return -1;
  return PUTS(e, "\"");
}

static int put_number(Encoder *e, int idx) {
  char num[40];
  int n;
  if (lua_isinteger(e->L, idx)) {
    n = snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(e->L, idx));
  } else {
    double d = lua_tonumber(e->L, idx);
    if (!isfinite(d)) {
      e->error = "cannot encode NaN or infinity";
      return -1;
    }
    /* Shortest form that reads back as the same double. */
    for (int prec = 15; prec <= 17; prec++) {
      n = snprintf(num, sizeof num, "%.*g", prec, d);
      if (strtod(num, NULL) == d) break;
    }
  }
  return put(e, num, (size_t)n);
}

static int encode_value(Encoder *e, int idx);

/* The length n when t holds exactly the keys 1..n (n may be 0), else -1. */
static lua_Integer array_length(lua_State *L, int idx) {
  lua_Integer n = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER || !lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      lua_pop(L, 1);
      return -1;
    }
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    n++;
  }
  return n == max ? n : -1;
}

static int marked_array(lua_State *L, int idx) {
  int marked;
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, ARRAY_MT);
  marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

static int encode_array(Encoder *e, int idx, lua_Integer n) {
  if (PUTS(e, "[")) return -1;
  e->depth++;
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1 && PUTS(e, ",")) return -1;
    if (newline(e)) return -1;
    e->path[e->depth].index = i;
    e->path[e->depth].key = NULL;
    lua_rawgeti(e->L, idx, i);
    if (encode_value(e, lua_gettop(e->L))) return -1;
    lua_pop(e->L, 1);
  }
  e->depth--;
  if (n > 0 && newline(e)) return -1;
  return PUTS(e, "]");
}

typedef struct Key {
  const char *text;        /* the key as written in JSON (may hold NUL bytes) */
  size_t len;
  lua_Integer slot;        /* where the original key sits in the side table */
} Key;

static int compare_keys(const void *a, const void *b) {
  const Key *x = a, *y = b;
  int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The separator before a key (none before the first), the key and its colon. */
static int put_key(Encoder *e, lua_Integer i, const char *k, size_t len) {
  if ((i > 0 && PUTS(e, ",")) || newline(e) || put_string(e, k, len) || PUTS(e, ":"))
    return -1;
  return e->indent ? PUTS(e, " ") : 0;
}

/* Keys in the table's own order (no sort_keys): each pair written as lua_next gives
 * it, with no side table. The keys are checked first, so that a bad key is reported
 * as it is with sorted keys, whatever the values hold. */
static int encode_object_unsorted(Encoder *e, int idx) {
  lua_State *L = e->L;
  lua_Integer i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int t = lua_type(L, -2);
    lua_pop(L, 1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER) {
      e->error = "table keys must be strings or numbers";
      return -1;
    }
  }
  if (PUTS(e, "{")) return -1;
  e->depth++;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t len;
    const char *k;
    lua_pushvalue(L, -2);          /* a copy: lua_tolstring makes a number key a string */
    k = lua_tolstring(L, -1, &len);
    if (put_key(e, i++, k, len)) return -1;
    e->path[e->depth].key = k;     /* the copy stays on the stack while it is read */
    if (encode_value(e, lua_gettop(L) - 1)) return -1;
    lua_pop(L, 2);
  }
  e->depth--;
  if (i > 0 && newline(e)) return -1;
  return PUTS(e, "}");
}

static int encode_object(Encoder *e, int idx) {
  lua_State *L = e->L;
  lua_Integer n = 0;
  Key *keys;
  int keytab;
  if (!e->sort_keys) return encode_object_unsorted(e, idx);
  /* Keys go to a side table as (original, string form) pairs: numeric keys are
   * written as strings, and the strings must stay alive while we point at them. */
  lua_newtable(L);
  keytab = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
      e->error = "table keys must be strings or numbers";
      return -1;
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, keytab, 2 * n + 1);
    lua_pushvalue(L, -1);
    lua_tostring(L, -1);
    lua_rawseti(L, keytab, 2 * n + 2);
    n++;
  }
  keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
  if (keys == NULL) {
    e->error = "out of memory";
    return -1;
  }
  for (lua_Integer i = 0; i < n; i++) {
    lua_rawgeti(L, keytab, 2 * i + 2);
    keys[i].text = lua_tolstring(L, -1, &keys[i].len);
    keys[i].slot = 2 * i + 1;
    lua_pop(L, 1);
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_keys);
  if (PUTS(e, "{")) goto fail;
  e->depth++;
  for (lua_Integer i = 0; i < n; i++) {
    if (put_key(e, i, keys[i].text, keys[i].len)) goto fail;
    e->path[e->depth].key = keys[i].text;
    lua_rawgeti(L, keytab, keys[i].slot);
    lua_rawget(L, idx);
    if (encode_value(e, lua_gettop(L))) goto fail;
    lua_pop(L, 1);
  }
  e->depth--;
  free(keys);
  lua_pop(L, 1);
  if (n > 0 && newline(e)) return -1;
  return PUTS(e, "}");
fail:
  free(keys);
  return -1;
}

static int encode_value(Encoder *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return PUTS(e, "null");
  case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? PUTS(e, "true") : PUTS(e, "false");
  case LUA_TNUMBER: return put_number(e, idx);
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return put_string(e, s, n);
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return PUTS(e, "null");  /* cjson.null */
    break;
  case LUA_TTABLE: {
    lua_Integer n;
    if (e->depth >= MAX_DEPTH) {
      e->error = "nesting deeper than 1000 levels (a table that contains itself?)";
      return -1;
    }
    if (!lua_checkstack(L, 8)) {
      e->error = "out of stack space";
      return -1;
    }
    n = array_length(L, idx);
    if (marked_array(L, idx)) {
      /* A decoded array given a field ("doc.items.note = ..."): say so, drop nothing. */
      if (n < 0) {
        e->error = "a json.array holds keys other than 1..n";
        return -1;
      }
      return encode_array(e, idx, n);
    }
    if (n > 0) return encode_array(e, idx, n);
    return encode_object(e, idx);
  }
  default: break;
  }
  e->error = lua_pushfstring(L, "cannot encode a %s", luaL_typename(L, idx));
  return -1;
}

static void push_path(lua_State *L, Encoder *e) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '$');
  for (int i = 1; i <= e->depth; i++) {
    if (e->path[i].key) {
      luaL_addchar(&b, '.');
      luaL_addstring(&b, e->path[i].key);
    } else {
      lua_pushfstring(L, "[%I]", e->path[i].index);
      luaL_addvalue(&b);
    }
  }
  luaL_pushresult(&b);
}

/* One Encoder per Lua state, reused (upvalue 1 of json.encode): it is 16 KB with its
 * path, and request bodies are encoded on every call. Encoding itself runs no Lua code
 * and cannot yield, but the GC may run a finalizer that encodes while it allocates: that
 * call gets an Encoder of its own. A memory error thrown mid-way leaves the shared one
 * busy, and later calls then take their own (correct, only slower). */
#define ENCODER_KEEP (64 * 1024)     /* an output buffer up to this size is kept */

static int encoder_gc(lua_State *L) {
  Encoder *e = lua_touserdata(L, 1);
  free(e->out.data);
  e->out.data = NULL;
  return 0;
}

/* Done with e: a private or huge output buffer goes, the shared Encoder is free again. */
static void encoder_release(Encoder *shared, Encoder *e) {
  if (e != shared || e->out.cap > ENCODER_KEEP) {
    free(e->out.data);
    e->out.data = NULL;
    e->out.cap = 0;
  }
  if (e == shared) shared->busy = 0;     /* else the outer call still has it */
}

/* json.encode(value [, {indent = n|true, sort_keys = bool}]) -> string */
static int l_encode(lua_State *L) {
  Encoder *shared = lua_touserdata(L, lua_upvalueindex(1)), *e = shared;
  int rc;
  lua_settop(L, 2);
  if (shared->busy) {
    e = lua_newuserdatauv(L, sizeof *e, 0);   /* large: keep it off the C stack */
    e->out.data = NULL;
    e->out.cap = 0;
  }
  e->busy = 1;
  e->L = L;
  e->out.len = 0;
  e->indent = e->sort_keys = e->depth = 0;
  e->error = NULL;                            /* path[] is written before it is read */
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "indent");
    e->indent = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : lua_toboolean(L, -1) ? 2 : 0;
    lua_getfield(L, 2, "sort_keys");
    e->sort_keys = lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  rc = encode_value(e, 1);
  if (rc != 0) {
    const char *why = e->error ? e->error : "failed";
    push_path(L, e);
    encoder_release(shared, e);
    return luaL_error(L, "json.encode: %s at %s", why, lua_tostring(L, -1));
  }
  lua_pushlstring(L, e->out.data ? e->out.data : "", e->out.len);
  encoder_release(shared, e);
  return 1;
}

/* ---- decoding ----
 * A decoder of our own rather than cjson's: cjson reads every number as a double
 * (42 became 42.0, 9007199254740993 became ...992) and returns [] as a plain table that
 * re-encodes as {}. Here integral numbers (no fraction, no exponent) are Lua integers
 * when they fit in 64 bits, every array carries ARRAY_MT, and the text is read from any
 * buffer, so a response body needs no Lua string first. The grammar is RFC 8259's;
 * like cjson, raw control characters inside strings are tolerated, NUL bytes are not,
 * and numbers too large for a double become +-inf.
 *
 * It is a loop over an explicit stack of open containers, so it can stop anywhere and
 * go on with more text (json_decoder_feed): a response body is decoded as it arrives,
 * chunk by chunk, and the same text gives the same value or the same error (at the
 * same offset) however it is cut. A token cut by the end of a chunk is left unread, to
 * be given again with what follows. Values wait on the Lua stack until FLUSH of them
 * (or the container's end) are there, then go into a table made at the right size:
 * no table is rehashed while it is filled. */

#define FLUSH 32                 /* values or key-value pairs per container on the stack */

enum { JS_VALUE, JS_FIRST_VALUE, JS_FIRST_KEY, JS_KEY, JS_COLON, JS_NEXT, JS_END };

typedef struct Frame {
  int slot;                      /* stack index of the container's table (nil until made) */
  int pending;                   /* values or pairs above it on the stack, not yet in it */
  lua_Integer n;                 /* an array's items already in the table */
  char close;                    /* ']' or '}' */
} Frame;

struct JsonDecoder {
  lua_State *L;
  const char *start, *p, *end;   /* the text being read now */
  size_t offset;                 /* bytes of the document before start */
  int final;                     /* nothing follows end */
  int state, depth;
  int array_mt;                  /* stack index of ARRAY_MT */
  const char *error;             /* static reason, set on failure */
  const char *at;                /* where the fault is */
  Frame frames[MAX_DEPTH + 1];
};

static int fail(JsonDecoder *d, const char *why, const char *at) {
  d->error = why;
  d->at = at;
  return -1;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = (unsigned char)p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v |= (c | 0x20) - 'a' + 10;
    else return -1;
  }
  *out = v;
  return 0;
}

static void add_utf8(luaL_Buffer *b, unsigned cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
  } else {
    u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    u[2] = (char)(0x80 | (cp >> 6 & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
  }
  luaL_addlstring(b, u, n);
}

/* One \u escape (p at the backslash), surrogate pairs joined; returns the next byte. */
static const char *unicode_escape(JsonDecoder *d, const char *p, luaL_Buffer *b) {
  unsigned cp, low;
  if (d->end - p < 6 || hex4(p + 2, &cp)) return fail(d, "invalid \\u escape", p), NULL;
  p += 6;
  if (cp >= 0xdc00 && cp <= 0xdfff) return fail(d, "lone low surrogate in \\u escape", p - 6), NULL;
  if (cp >= 0xd800 && cp <= 0xdbff) {
    if (d->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &low) || low < 0xdc00 || low > 0xdfff)
      return fail(d, "high surrogate without its low half in \\u escape", p - 6), NULL;
    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    p += 6;
  }
  add_utf8(b, cp);
  return p;
}

/* A string (d->p just past the opening quote) pushed onto the stack. */
static int decode_string(JsonDecoder *d) {
  const char *p = d->p, *end = d->end, *run;
  luaL_Buffer b;
  while (p < end && *p != '"' && *p != '\\' && *p != '\0') p++;
  if (p < end && *p == '"') {                     /* the common case: no escapes */
    lua_pushlstring(d->L, d->p, (size_t)(p - d->p));
    d->p = p + 1;
    return 0;
  }
  luaL_buffinit(d->L, &b);
  luaL_addlstring(&b, d->p, (size_t)(p - d->p));
  for (;;) {
    if (p >= end) return fail(d, "unexpected end of string", d->p - 1);
    if (*p == '\0') return fail(d, "NUL byte in a string (it must be written \\u0000)", p);
    if (*p == '"') break;
    if (*p != '\\') {
      for (run = p; p < end && *p != '"' && *p != '\\' && *p != '\0'; p++) {}
      luaL_addlstring(&b, run, (size_t)(p - run));
      continue;
    }
    if (p + 1 >= end) return fail(d, "unexpected end of string", d->p - 1);
    switch (p[1]) {
    case '"': luaL_addchar(&b, '"'); break;
    case '\\': luaL_addchar(&b, '\\'); break;
    case '/': luaL_addchar(&b, '/'); break;
    case 'b': luaL_addchar(&b, '\b'); break;
    case 'f': luaL_addchar(&b, '\f'); break;
    case 'n': luaL_addchar(&b, '\n'); break;
    case 'r': luaL_addchar(&b, '\r'); break;
    case 't': luaL_addchar(&b, '\t'); break;
    case 'u':
      if ((p = unicode_escape(d, p, &b)) == NULL) return -1;
      continue;
    default: return fail(d, "invalid escape in string", p);
    }
    p += 2;
  }
  luaL_pushresult(&b);
  d->p = p + 1;
  return 0;
}

static int is_digit(const char *p, const char *end) {
  return p < end && *p >= '0' && *p <= '9';
}

/* A number: an integer when written without fraction or exponent and within 64 bits,
 * else a float (strtod, the same rounding as cjson). */
static int decode_number(JsonDecoder *d) {
  const char *p = d->p, *end = d->end;
  int negative = 0, integral = 1, overflow = 0;
  uint64_t n = 0;
  if (*p == '-') { negative = 1; p++; }
  if (!is_digit(p, end)) return fail(d, "invalid number", d->p);
  if (*p == '0') p++;
  else
    for (; is_digit(p, end); p++) {
      unsigned digit = (unsigned)(*p - '0');
      if (n > (UINT64_MAX - digit) / 10) overflow = 1;
      else n = n * 10 + digit;
    }
  if (p < end && *p == '.') {
    integral = 0;
    if (!is_digit(++p, end)) return fail(d, "invalid number (digits must follow '.')", d->p);
    while (is_digit(p, end)) p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integral = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (!is_digit(p, end)) return fail(d, "invalid number (digits must follow the exponent)", d->p);
    while (is_digit(p, end)) p++;
  }
  if (integral && !overflow && n <= (uint64_t)INT64_MAX + negative && !(negative && n == 0)) {
    /* -(2^63) is the one value whose magnitude does not fit: negate in unsigned. "-0" is
     * left to strtod: -0.0 keeps its sign, integer 0 would not. */
    lua_pushinteger(d->L, negative ? (lua_Integer)(0 - n) : (lua_Integer)n);
  } else {
    char small[64];
    size_t len = (size_t)(p - d->p);
    if (len < sizeof small) {
      memcpy(small, d->p, len);
      small[len] = '\0';
      lua_pushnumber(d->L, strtod(small, NULL));
    } else {                                     /* a long mantissa: rare */
      const char *text = lua_pushlstring(d->L, d->p, len);
      double v = strtod(text, NULL);
      lua_pop(d->L, 1);
      lua_pushnumber(d->L, v);
    }
  }
  d->p = p;
  return 0;
}

static int literal(JsonDecoder *d, const char *word, size_t len) {
  if ((size_t)(d->end - d->p) < len || memcmp(d->p, word, len) != 0)
    return fail(d, "invalid token (expected a value)", d->p);
  d->p += len;
  return 0;
}

/* Put the values (pairs) waiting above a container into its table, making it first. */
static void flush(JsonDecoder *d, Frame *f) {
  lua_State *L = d->L;
  int first = f->slot + 1;
  if (lua_isnil(L, f->slot)) {
    if (f->close == ']') {
      lua_createtable(L, f->pending, 0);
      lua_pushvalue(L, d->array_mt);
      lua_setmetatable(L, -2);
    } else {
      lua_createtable(L, 0, f->pending);
    }
    lua_replace(L, f->slot);
  }
  if (f->close == ']') {
    for (int i = 0; i < f->pending; i++) {
      lua_pushvalue(L, first + i);
      lua_rawseti(L, f->slot, ++f->n);
    }
  } else {
    for (int i = 0; i < f->pending; i++) {   /* in order: a repeated key keeps its last value */
      lua_pushvalue(L, first + 2 * i);
      lua_pushvalue(L, first + 2 * i + 1);
      lua_rawset(L, f->slot);
    }
  }
  lua_settop(L, f->slot);
  f->pending = 0;
}

/* A value is complete on top of the stack: it belongs to the container it is in. */
static void value_done(JsonDecoder *d) {
  Frame *f = &d->frames[d->depth];
  if (d->depth == 0) {
    d->state = JS_END;
    return;
  }
  d->state = JS_NEXT;
  if (++f->pending >= FLUSH) flush(d, f);
}

static int open_container(JsonDecoder *d, char close) {
  Frame *f;
  if (d->depth >= MAX_DEPTH) return fail(d, "too many nested arrays or objects (more than 1000)", d->p);
  if (!lua_checkstack(d->L, 2 * FLUSH + 8)) return fail(d, "out of stack space", d->p);
  f = &d->frames[++d->depth];
  lua_pushnil(d->L);
  f->slot = lua_gettop(d->L);
  f->pending = 0;
  f->n = 0;
  f->close = close;
  d->p++;
  d->state = close == ']' ? JS_FIRST_VALUE : JS_FIRST_KEY;
  return 0;
}

static void close_container(JsonDecoder *d) {
  flush(d, &d->frames[d->depth]);
  d->p++;
  d->depth--;
  value_done(d);
}

/* Whether an unescaped '"' ends a string in [p, end). */
static int string_closed(const char *p, const char *end) {
  while (p < end) {
    if (*p == '\\') p += 2;
    else if (*p == '"') return 1;
    else p++;
  }
  return 0;
}

/* The token readers: 1 with the value pushed, 0 when the text ends inside the token
 * (and more follows: nothing is consumed), -1 on an error. */
static int read_string(JsonDecoder *d) {
  const char *quote = d->p;
  int top = lua_gettop(d->L);
  d->p++;
  if (decode_string(d) == 0) return 1;
  if (d->final || string_closed(quote + 1, d->end)) return -1;
  lua_settop(d->L, top);
  d->p = quote;
  return 0;
}

static int read_number(JsonDecoder *d) {
  if (!d->final) {
    const char *q = d->p;
    while (q < d->end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' || *q == 'e' || *q == 'E')) q++;
    if (q == d->end) return 0;
  }
  return decode_number(d) == 0 ? 1 : -1;
}

static int read_literal(JsonDecoder *d, const char *word, size_t len) {
  size_t have = (size_t)(d->end - d->p);
  if (have < len && !d->final && memcmp(d->p, word, have) == 0) return 0;
  return literal(d, word, len) == 0 ? 1 : -1;
}

/* What is wrong when the text ends in the given state. */
static const char *end_error(const JsonDecoder *d) {
  switch (d->state) {
  case JS_VALUE: case JS_FIRST_VALUE: return "unexpected end of text (expected a value)";
  case JS_FIRST_KEY: case JS_KEY: return "expected a string key in object";
  case JS_COLON: return "expected ':' after object key";
  default: return d->frames[d->depth].close == ']' ? "expected ',' or ']' in array" : "expected ',' or '}' in object";
  }
}

/* Read on from d->p: 1 when the document is complete (final), 0 when more text is
 * needed, -1 on an error. */
static int run(JsonDecoder *d) {
  lua_State *L = d->L;
  for (;;) {
    const char *p = d->p, *end = d->end;
    int rc;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    d->p = p;
    if (p >= end) {
      if (!d->final) return 0;
      if (d->state == JS_END) return 1;
      return fail(d, end_error(d), p);
    }
    switch (d->state) {
    case JS_END:
      return fail(d, "unexpected text after the value", p);
    case JS_NEXT:
      if (*p == ',') {
        d->p++;
        d->state = d->frames[d->depth].close == ']' ? JS_VALUE : JS_KEY;
      } else if (*p == d->frames[d->depth].close) {
        close_container(d);
      } else {
        return fail(d, end_error(d), p);
      }
      continue;
    case JS_COLON:
      if (*p != ':') return fail(d, "expected ':' after object key", p);
      d->p++;
      d->state = JS_VALUE;
      continue;
    case JS_FIRST_KEY:
    case JS_FIRST_VALUE:                 /* just inside the bracket: it may close at once */
      if (*p == d->frames[d->depth].close) close_container(d);
      else d->state = d->state == JS_FIRST_KEY ? JS_KEY : JS_VALUE;
      continue;
    case JS_KEY:
      if (*p != '"') return fail(d, "expected a string key in object", p);
      if ((rc = read_string(d)) != 1) return rc;
      d->state = JS_COLON;
      continue;
    default:
      switch (*p) {
      case '{': if (open_container(d, '}')) return -1; continue;
      case '[': if (open_container(d, ']')) return -1; continue;
      case '"': rc = read_string(d); break;
      case 't': if ((rc = read_literal(d, "true", 4)) == 1) lua_pushboolean(L, 1); break;
      case 'f': if ((rc = read_literal(d, "false", 5)) == 1) lua_pushboolean(L, 0); break;
      case 'n': if ((rc = read_literal(d, "null", 4)) == 1) lua_pushlightuserdata(L, NULL); break;
      default:
        if (*p != '-' && (*p < '0' || *p > '9')) return fail(d, "invalid token (expected a value)", p);
        rc = read_number(d);
      }
      if (rc != 1) return rc;
      value_done(d);
    }
  }
}

static void push_array_mt(lua_State *L) {
  if (luaL_newmetatable(L, ARRAY_MT)) {
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
  }
}

size_t json_decoder_size(void) {
  return sizeof(JsonDecoder);
}

void json_decoder_init(JsonDecoder *d, lua_State *L) {
  luaL_checkstack(L, 2 * FLUSH + 8, "json.decode");
  push_array_mt(L);
  d->L = L;
  d->array_mt = lua_gettop(L);
  d->offset = 0;
  d->state = JS_VALUE;
  d->depth = 0;
  d->error = d->at = NULL;
}

int json_decoder_feed(JsonDecoder *d, const char *data, size_t len, int final, size_t *used) {
  int rc;
  d->start = d->p = data;
  d->end = data + len;
  d->final = final;
  rc = run(d);
  if (rc < 0) {
    lua_Integer at = (lua_Integer)(d->offset + (size_t)(d->at - d->start)) + 1;
    if (d->at >= d->end) lua_pushfstring(d->L, "json.decode: %s at character %I (the end of the text)", d->error, at);
    else lua_pushfstring(d->L, "json.decode: %s at character %I", d->error, at);
  }
  if (used) *used = (size_t)(d->p - data);
  d->offset += (size_t)(d->p - data);
  return rc;
}

int json_decode_buffer(lua_State *L, const char *data, size_t len) {
  JsonDecoder d;
  int base;
  json_decoder_init(&d, L);
  base = d.array_mt;
  if (json_decoder_feed(&d, data, len, 1, NULL) == 1) {
    lua_remove(L, base);
    return 1;
  }
  lua_replace(L, base);
  lua_settop(L, base);
  return 0;
}

/* ---- decoding a piece at a time ----
 * A JsonStream decodes on a thread of its own: a coroutine whose body is a C function
 * that feeds the decoder and yields when it needs more text, so the decoder's state (its
 * values on the stack, its frames) lives in one frame across feeds, and an error (even
 * out of memory) ends that coroutine, not whoever fed it. */

#define STREAM_MT "evalua.json.decoder"

struct JsonStream {
  lua_State *co;                 /* the decoding thread (the userdata's user value) */
  const char *data;              /* this feed's text */
  size_t len, used;              /* its length, and how much of it was consumed */
  int final;
  int status;                    /* 0 reading, 1 complete (value on co), -1 failed (message on co) */
  size_t tail;                   /* text left unconsumed by the last feed */
  Buf pending;                   /* json.decoder(): text given and not consumed yet */
  JsonDecoder d;                 /* last: its frames are large */
};

static int stream_k(lua_State *L, int status, lua_KContext ctx) {
  JsonStream *s = (JsonStream *)ctx;
  int rc = json_decoder_feed(&s->d, s->data, s->len, s->final, &s->used);
  (void)status;
  if (rc == 0) return lua_yieldk(L, 0, ctx, stream_k);
  if (rc < 0) return lua_error(L);
  return 1;
}

static int stream_body(lua_State *L) {
  JsonStream *s = lua_touserdata(L, lua_upvalueindex(1));
  json_decoder_init(&s->d, L);
  return stream_k(L, LUA_OK, (lua_KContext)s);
}

/* Ready to read a document from its start (again). */
static void stream_start(JsonStream *s) {
  evalua_closethread(s->co, NULL);
  lua_settop(s->co, 0);
  lua_pushlightuserdata(s->co, s);
  lua_pushcclosure(s->co, stream_body, 1);
  s->status = 0;
  s->tail = 0;
  s->pending.len = 0;
}

static int stream_gc(lua_State *L) {
  JsonStream *s = luaL_checkudata(L, 1, STREAM_MT);
  buf_free(&s->pending);
  return 0;
}

JsonStream *json_stream_new(lua_State *L) {
  JsonStream *s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, offsetof(JsonStream, d));
  luaL_setmetatable(L, STREAM_MT);
  s->co = lua_newthread(L);
  lua_setiuservalue(L, -2, 1);
  stream_start(s);
  return s;
}

void json_stream_reset(JsonStream *s) {
  stream_start(s);
}

int json_stream_status(const JsonStream *s) {
  return s->status;
}

int json_stream_consume(lua_State *from, JsonStream *s, Buf *b, int final) {
  int nres, rc;
  if (s->status != 0) return s->status;
  /* A token longer than a feed (a long string) is read again from its start each time:
   * feed again only once the text has doubled, so that costs linear time in all. */
  if (!final && b->len < 2 * s->tail + 1) return 0;
  s->data = b->data ? b->data : "";
  s->len = b->len;
  s->final = final;
  s->used = 0;
  rc = lua_resume(s->co, from, 0, &nres);
  if (rc == LUA_YIELD) {
    memmove(b->data, b->data + s->used, b->len - s->used);
    b->len -= s->used;
    s->tail = b->len;
    return 0;
  }
  s->status = rc == LUA_OK ? 1 : -1;
  return s->status;
}

void json_stream_push_result(lua_State *L, JsonStream *s) {
  lua_pushvalue(s->co, -1);
  lua_xmove(s->co, L, 1);
}

/* json.decoder() -> an object to give a document in pieces: d:feed(text) reads on (an
 * error in the text so far raises at once), d:finish() -> the value. The same values and
 * errors as json.decode of the whole text. */
static int l_decoder(lua_State *L) {
  json_stream_new(L);
  return 1;
}

static int stream_raise(lua_State *L, JsonStream *s) {
  json_stream_push_result(L, s);
  return lua_error(L);
}

static int l_stream_feed(lua_State *L) {
  JsonStream *s = luaL_checkudata(L, 1, STREAM_MT);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, s->status != 1, 1, "the document is complete (finish was called)");
  if (s->status < 0) return stream_raise(L, s);
  if (buf_append(&s->pending, text, len) != 0) return luaL_error(L, "out of memory");
  if (json_stream_consume(L, s, &s->pending, 0) < 0) return stream_raise(L, s);
  return 0;
}

static int l_stream_finish(lua_State *L) {
  JsonStream *s = luaL_checkudata(L, 1, STREAM_MT);
  if (json_stream_consume(L, s, &s->pending, 1) < 0) return stream_raise(L, s);
  buf_free(&s->pending);
  json_stream_push_result(L, s);
  return 1;
}

/* json.decode(text) -> value; errors name the offset ("at character N", 1-based) */
static int l_decode(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  if (!json_decode_buffer(L, text, len)) return lua_error(L);
  return 1;
}

/* tostring(json.null) is "null", not "userdata: (nil)". */
static int l_null_tostring(lua_State *L) {
  lua_pushliteral(L, "null");
  return 1;
}

/* json.array([t]) -> t, marked to encode as a JSON array even when empty */
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, ARRAY_MT);
  return 1;
}

static int l_is_array(lua_State *L) {
  lua_pushboolean(L, lua_istable(L, 1) && marked_array(L, 1));
  return 1;
}

int luaopen_evalua_json(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"decode", l_decode}, {"decoder", l_decoder}, {"array", l_array},
    {"is_array", l_is_array}, {NULL, NULL},
  };
  static const luaL_Reg stream_methods[] = {{"feed", l_stream_feed}, {"finish", l_stream_finish}, {NULL, NULL}};
  push_array_mt(L);
  lua_pop(L, 1);
  if (luaL_newmetatable(L, STREAM_MT)) {
    lua_pushcfunction(L, stream_gc);
    lua_setfield(L, -2, "__gc");
    luaL_newlib(L, stream_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  /* json.null is cjson.null (a NULL light userdata), so values from either compare
   * equal; its metatable is the one every light userdata shares. */
  lua_pushlightuserdata(L, NULL);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, l_null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "json.null");
  lua_setfield(L, -2, "__name");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  memset(lua_newuserdatauv(L, sizeof(Encoder), 0), 0, offsetof(Encoder, path));
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, encoder_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushcclosure(L, l_encode, 1);
  lua_setfield(L, -2, "encode");
  return 1;
}
