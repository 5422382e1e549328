/*
 * fs.c -- the few file operations the journal and the reporters need and Lua's io
 * library lacks: durable appends, atomic replacement, directory listing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evalua.h"

static int fail(lua_State *L, const char *what, const char *path, int err) {
  return luaL_error(L, "%s %s: %s", what, path, strerror(err));
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
 * this one stays readable. Created mode 0600: the journal holds run data. */
static int l_append_line(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *line = luaL_checklstring(L, 2, &len);
  int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
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

/* fs.write_atomic(path, content [, mode]): write a temporary file beside path, fsync,
 * rename over path. Readers see the old file or the new one, never half of one; a
 * full disk is an error and leaves the old file in place. */
static int l_write_atomic(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *content = luaL_checklstring(L, 2, &len);
  mode_t mode = (mode_t)luaL_optinteger(L, 3, 0600);
  const char *tmp = lua_pushfstring(L, "%s.tmp-%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  int err;
  if (fd < 0) return fail(L, "cannot create", tmp, errno);
  if (write_all(fd, content, len) != 0 || fsync(fd) != 0) {
    err = errno;
    close(fd);
    unlink(tmp);
    return fail(L, "cannot write", path, err);
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    err = errno;
    unlink(tmp);
    return fail(L, "cannot write", path, err);
  }
  sync_parent(path);
  return 0;
}

/* fs.mkdir_p(path [, mode]) */
static int l_mkdir_p(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0700);
  char *copy = strdup(path);
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
    {"exists", l_exists}, {"isdir", l_isdir}, {"list", l_list}, {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}
