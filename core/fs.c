/*
 * fs.c -- the few file operations the journal and the reporters need and Lua's io
 * library lacks: durable appends, atomic replacement (whole, or streamed piece by
 * piece), locks, directory listing. None
 * follows a symbolic link at the path it writes: a journal or report path is often
 * in a workspace others can shape, and a planted link would redirect the write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evalua.h"

static int fail(lua_State *L, const char *what, const char *path, int err) {
  if (err == ELOOP) return luaL_error(L, "%s %s: it is a symbolic link (refusing to follow it)", what, path);
  return luaL_error(L, "%s %s: %s", what, path, strerror(err));
}

/* Open `path` without following a link there; owner-only mode enforced even on a file
 * that existed with a wider one. */
static int open_private(const char *path, int flags) {
  struct stat st;
  int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (fstat(fd, &st) == 0 && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* fs.append_line(path, line): append line + "\n" in one write and fsync before
 * returning, so a crash right after never loses it. A file whose last line was cut
 * short by an earlier crash gets a newline first, so the torn line stays alone and
 * this one stays readable. Mode 0600 (the journal holds run data); a link at `path`
 * is refused. */
static int l_append_line(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *line = luaL_checklstring(L, 2, &len);
  int fd = open_private(path, O_RDWR | O_APPEND | O_CREAT);
  struct stat st;
  char last = '\n', *buf;
  size_t n = 0;
  int err;
  if (fd < 0) return fail(L, "cannot open", path, errno);
  if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1) last = '\n';
  buf = malloc(len + 2);
  if (buf == NULL) {
    close(fd);
    return luaL_error(L, "out of memory");
  }
  if (last != '\n') buf[n++] = '\n';
  memcpy(buf + n, line, len);
  n += len;
  buf[n++] = '\n';
  if (write_all(fd, buf, n) != 0 || fsync(fd) != 0) {
    err = errno;
    free(buf);
    close(fd);
    return fail(L, "cannot write", path, err);
  }
  free(buf);
  close(fd);
  return 0;
}

static void sync_parent(const char *path) {
  char *dir = strdup(path), *slash;
  int fd;
  if (dir == NULL) return;
  slash = strrchr(dir, '/');
  if (slash == NULL) strcpy(dir, ".");
  else if (slash == dir) slash[1] = '\0';
  else *slash = '\0';
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

/* Create the temporary file `tmp` for `path` afresh (O_EXCL, never through a link
 * planted there); a symbolic link at path itself is refused (rename would replace the
 * link, but the user named it for its target). Returns the descriptor, or -1 with
 * errno set. */
static int open_tmp(const char *path, const char *tmp, mode_t mode) {
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    errno = ELOOP;
    return -1;
  }
  unlink(tmp);
  return open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

/* fsync and close `fd` (the whole of `tmp`), rename it over `path`, sync the
 * directory. On failure the temporary file is removed, path is left as it was, and
 * -1 is returned with errno set. */
static int commit_tmp(int fd, const char *tmp, const char *path) {
  int err;
  if (fsync(fd) != 0) {
    err = errno;
    close(fd);
    unlink(tmp);
    errno = err;
    return -1;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    err = errno;
    unlink(tmp);
    errno = err;
    return -1;
  }
  sync_parent(path);
  return 0;
}

/* fs.write_atomic(path, content [, mode]): write a temporary file beside path, fsync,
 * rename over path. Readers see the old file or the new one, never half of one; a
 * full disk is an error and leaves the old file in place. */
static int l_write_atomic(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *content = luaL_checklstring(L, 2, &len);
  mode_t mode = (mode_t)luaL_optinteger(L, 3, 0600);
  const char *tmp = lua_pushfstring(L, "%s.tmp-%d", path, (int)getpid());
  int fd = open_tmp(path, tmp, mode), err;
  if (fd < 0) return errno == ELOOP ? fail(L, "cannot write", path, ELOOP) : fail(L, "cannot create", tmp, errno);
  if (write_all(fd, content, len) != 0) {
    err = errno;
    close(fd);
    unlink(tmp);
    return fail(L, "cannot write", path, err);
  }
  if (commit_tmp(fd, tmp, path) != 0) return fail(L, "cannot write", path, errno);
  return 0;
}

/* A file being written piece by piece (a report streamed as it is made): the pieces
 * go through a buffer to a temporary file beside `path`, which commit() renames into
 * place as write_atomic does. Until then path is untouched; abort(), __close or __gc
 * of an uncommitted one removes the temporary file, so an interrupted writer leaves
 * the old file (or none), never half of the new one. */
typedef struct {
  int fd;            /* -1 once committed or aborted */
  size_t used;
  char *path, *tmp;
  char buf[65536];
} AtomicFile;

#define ATOMIC_MT "evalua.fs.atomic_file"

static void atomic_discard(AtomicFile *a) {
  if (a->fd >= 0) {
    close(a->fd);
    unlink(a->tmp);
    a->fd = -1;
  }
  free(a->path);
  free(a->tmp);
  a->path = a->tmp = NULL;
}

static AtomicFile *check_open(lua_State *L) {
  AtomicFile *a = luaL_checkudata(L, 1, ATOMIC_MT);
  if (a->fd < 0) luaL_error(L, "the file was already committed or aborted");
  return a;
}

/* Write out the buffer; on failure the file is discarded and the error raised. */
static void atomic_flush(lua_State *L, AtomicFile *a) {
  if (a->used > 0 && write_all(a->fd, a->buf, a->used) != 0) {
    int err = errno;
    lua_pushstring(L, a->path);
    atomic_discard(a);
    fail(L, "cannot write", lua_tostring(L, -1), err);
  }
  a->used = 0;
}

/* fs.atomic_file(path [, mode]) -> a file to write(), then commit() or abort(). */
static int l_atomic_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0600);
  const char *tmp = lua_pushfstring(L, "%s.tmp-%d", path, (int)getpid());
  AtomicFile *a = lua_newuserdatauv(L, sizeof *a, 0);
  a->fd = -1;
  a->used = 0;
  a->path = a->tmp = NULL;
  luaL_setmetatable(L, ATOMIC_MT);
  a->path = strdup(path);
  a->tmp = strdup(tmp);
  if (a->path == NULL || a->tmp == NULL) return luaL_error(L, "out of memory");
  a->fd = open_tmp(path, tmp, mode);
  if (a->fd < 0) return errno == ELOOP ? fail(L, "cannot write", path, ELOOP) : fail(L, "cannot create", tmp, errno);
  return 1;
}

/* file:write(s): append s (through the buffer). */
static int atomic_write(lua_State *L) {
  AtomicFile *a = check_open(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  if (len > sizeof a->buf - a->used) {
    atomic_flush(L, a);
    if (len >= sizeof a->buf) {
      if (write_all(a->fd, s, len) != 0) {
        int err = errno;
        lua_pushstring(L, a->path);
        atomic_discard(a);
        return fail(L, "cannot write", lua_tostring(L, -1), err);
      }
      return 0;
    }
  }
  memcpy(a->buf + a->used, s, len);
  a->used += len;
  return 0;
}

/* file:commit(): everything written is made durable and renamed over path. */
static int atomic_commit(lua_State *L) {
  AtomicFile *a = check_open(L);
  int fd;
  atomic_flush(L, a);
  fd = a->fd;
  a->fd = -1;
  if (commit_tmp(fd, a->tmp, a->path) != 0) {
    int err = errno;
    lua_pushstring(L, a->path);
    atomic_discard(a);
    return fail(L, "cannot write", lua_tostring(L, -1), err);
  }
  atomic_discard(a);
  return 0;
}

/* file:abort() (and __close, __gc): drop what was written; path stays as it was. */
static int atomic_abort(lua_State *L) {
  atomic_discard(luaL_checkudata(L, 1, ATOMIC_MT));
  return 0;
}

/* fs.mkdir_p(path [, mode]) */
static int l_mkdir_p(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0700);
  char *copy;
  luaL_argcheck(L, path[0] != '\0', 1, "empty path");   /* the loop starts past the first byte */
  copy = strdup(path);
  if (copy == NULL) return luaL_error(L, "out of memory");
  for (char *p = copy + 1; ; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(copy, mode) != 0 && errno != EEXIST) {
        int err = errno;
        lua_pushstring(L, copy);
        free(copy);
        return fail(L, "cannot create directory", lua_tostring(L, -1), err);
      }
      *p = c;
      if (c == '\0') break;
    }
  }
  free(copy);
  return 0;
}

/* fs.cwd() -> the working directory's absolute path, or nil and why (getcwd) */
static int l_cwd(lua_State *L) {
  char buf[4096];
  if (getcwd(buf, sizeof buf) == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushstring(L, buf);
  return 1;
}

/* fs.is_symlink(path) -> whether path itself is a symbolic link */
static int l_is_symlink(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, lstat(luaL_checkstring(L, 1), &st) == 0 && S_ISLNK(st.st_mode));
  return 1;
}

/* A held lock: the open descriptor its flock belongs to. */
typedef struct {
  int fd;
} Lock;

#define LOCK_MT "evalua.fs.lock"

static int lock_release(lua_State *L) {
  Lock *k = luaL_checkudata(L, 1, LOCK_MT);
  if (k->fd >= 0) {
    flock(k->fd, LOCK_UN);
    close(k->fd);
    k->fd = -1;
  }
  return 0;
}

/* fs.lock(path [, shared]) -> lock, or nil when another process holds it. Never
 * blocks (the caller waits in a task, so the event loop keeps running). The lock goes
 * with the lock object: lock:unlock(), or its __close / __gc. Creates path (0600),
 * refuses a link there. */
static int l_lock(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int shared = lua_toboolean(L, 2);
  Lock *k = lua_newuserdatauv(L, sizeof *k, 0);
  k->fd = -1;
  luaL_setmetatable(L, LOCK_MT);
  k->fd = open_private(path, O_RDWR | O_CREAT);
  if (k->fd < 0) return fail(L, "cannot open", path, errno);
  if (flock(k->fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    int err = errno;
    close(k->fd);
    k->fd = -1;
    if (err == EWOULDBLOCK) {
      lua_pushnil(L);
      return 1;
    }
    return fail(L, "cannot lock", path, err);
  }
  return 1;
}

/* fs.pid() -> this process's id (the journal says who holds its lock) */
static int l_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static int l_exists(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0);
  return 1;
}

static int l_isdir(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
  return 1;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* fs.list(dir) -> sorted array of entry names (without . and ..) */
static int l_list(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  struct dirent *ent;
  char **names = NULL;
  size_t n = 0, cap = 0;
  if (d == NULL) return fail(L, "cannot list", path, errno);
  while ((ent = readdir(d)) != NULL) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
    if (n == cap) {
      char **grown = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof *names);
      if (grown == NULL) break;
      names = grown;
    }
    names[n] = strdup(ent->d_name);
    if (names[n]) n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, compare_names);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
    free(names[i]);
  }
  free(names);
  return 1;
}

int luaopen_evalua_fs(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"append_line", l_append_line}, {"write_atomic", l_write_atomic}, {"mkdir_p", l_mkdir_p},
    {"exists", l_exists}, {"isdir", l_isdir}, {"is_symlink", l_is_symlink}, {"lock", l_lock},
    {"pid", l_pid}, {"list", l_list}, {"cwd", l_cwd}, {"atomic_file", l_atomic_file}, {NULL, NULL},
  };
  static const luaL_Reg atomic_methods[] = {
    {"write", atomic_write}, {"commit", atomic_commit}, {"abort", atomic_abort},
    {"__close", atomic_abort}, {"__gc", atomic_abort}, {NULL, NULL},
  };
  static const luaL_Reg lock_methods[] = {
    {"unlock", lock_release}, {"__close", lock_release}, {"__gc", lock_release}, {NULL, NULL},
  };
  if (luaL_newmetatable(L, LOCK_MT)) {
    luaL_setfuncs(L, lock_methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, ATOMIC_MT)) {
    luaL_setfuncs(L, atomic_methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
