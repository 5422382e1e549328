/*
 * alloc.c -- the allocator behind Lua's heap and libcurl's: mimalloc (Debian's
 * libmimalloc-dev) in release builds. Thousands of waiting runs are millions of small
 * objects (strings, tables, closures, curl handles); glibc's malloc spends more time on
 * them and keeps what a burst of starts fragmented. See tests/bench/RESULTS.md for the
 * measurement that chose it, and for the GC parameters set in boot.lua.
 *
 * Linking libmimalloc replaces malloc for the whole process (Debian builds it with
 * MI_OVERRIDE), so OpenSSL and everything else use it too; Lua and curl are given its
 * functions directly as well. Sanitizer builds (EVALUA_MIMALLOC undefined) keep libc's
 * allocator, which ASan must own, and so does a process under valgrind's memcheck, so
 * that its leak check sees Lua's heap.
 */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "evalua.h"

#ifdef EVALUA_MIMALLOC
#include <mimalloc.h>

/* memcheck preloads vgpreload_memcheck-*.so; its malloc replacement must see every block. */
static int under_memcheck(void) {
  const char *preload = getenv("LD_PRELOAD");
  return preload != NULL && strstr(preload, "vgpreload_memcheck") != NULL;
}
#endif

/* The functions behind Lua's heap: libc's until alloc_lua() picks mimalloc's. */
static void *(*grow)(void *, size_t) = realloc;
static void (*release)(void *) = free;

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    release(ptr);
    return NULL;
  }
  return grow(ptr, nsize);
}

lua_Alloc alloc_lua(void) {
#ifdef EVALUA_MIMALLOC
  if (!under_memcheck()) {
    grow = mi_realloc;
    release = mi_free;
  }
#endif
  return lua_alloc;
}

int alloc_install_curl(void) {
#ifdef EVALUA_MIMALLOC
  if (!under_memcheck())
    return curl_global_init_mem(CURL_GLOBAL_DEFAULT, mi_malloc, mi_free, mi_realloc, mi_strdup, mi_calloc) ==
           CURLE_OK ? 0 : -1;
#endif
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}
