/* The stand-ins wasi_shim.h declares for sqlite on wasm32-wasi. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "wasi_shim.h"
#undef fcntl
#undef open

int fchmod(int fd, mode_t mode) { (void)fd; (void)mode; return 0; }
int fchown(int fd, uid_t uid, gid_t gid) { (void)fd; (void)uid; (void)gid; return 0; }
uid_t geteuid(void) { return 0; }

/* The host's lock on the file at path (a guest path), with the meaning of
 * fcntl's: get != 0 is F_GETLK (*conflict is set to the type of a lock
 * that would conflict, or F_UNLCK), else F_SETLK, which never waits.
 * Returns 0 or a WASI errno (EAGAIN: held by someone else). */
__attribute__((import_module("wasigate_lock"), import_name("lock")))
int32_t wasigate_lock(const char *path, int32_t path_len, int32_t get, int32_t type,
                      int64_t start, int64_t len, int32_t *conflict);

/* paths[fd] is the path sqlite opened fd by: locks are set by path, as
 * WASI gives the host no way to find the file behind a guest's fd. An
 * entry is replaced when sqlite opens another file at the same fd; sqlite
 * locks only the files it opened. */
static char **paths;
static int npaths;

static void remember(int fd, const char *path) {
  char *p;
  if (fd < 0) return;
  if (fd >= npaths) {
    int n = fd + 16;
    char **grown = realloc(paths, n * sizeof *paths);
    if (!grown) return;
    memset(grown + npaths, 0, (n - npaths) * sizeof *paths);
    paths = grown;
    npaths = n;
  }
  if (path[0] == '/') {
    p = strdup(path);
  } else { /* sqlite passes full paths; this is for any other caller */
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd)) return;
    p = malloc(strlen(cwd) + strlen(path) + 2);
    if (p) {
      strcpy(p, cwd);
      strcat(p, "/");
      strcat(p, path);
    }
  }
  free(paths[fd]);
  paths[fd] = p;
}

int wasigate_open(const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  int fd = open(path, flags, mode);
  remember(fd, path);
  return fd;
}

int wasigate_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  if (cmd != F_GETLK && cmd != F_SETLK && cmd != F_SETLKW) {
    int arg = va_arg(ap, int);
    va_end(ap);
    return fcntl(fd, cmd, arg);
  }
  struct flock *l = va_arg(ap, struct flock *);
  va_end(ap);
  /* F_SETLKW would wait in the host; sqlite's unix VFS never asks for it
   * (it retries through its busy handler instead). */
  if (cmd == F_SETLKW || l->l_whence != SEEK_SET) {
    errno = EINVAL;
    return -1;
  }
  const char *p = fd >= 0 && fd < npaths ? paths[fd] : NULL;
  if (!p) {
    errno = EBADF;
    return -1;
  }
  int32_t conflict = F_UNLCK;
  int32_t rc = wasigate_lock(p, (int32_t)strlen(p), cmd == F_GETLK, l->l_type,
                             l->l_start, l->l_len, &conflict);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  if (cmd == F_GETLK) l->l_type = (short)conflict;
  return 0;
}
