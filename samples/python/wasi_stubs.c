/* The stand-ins wasi_shim.h declares for sqlite on wasm32-wasi. */
#include <stdarg.h>
#include "wasi_shim.h"
#undef fcntl

int fchmod(int fd, mode_t mode) { (void)fd; (void)mode; return 0; }
int fchown(int fd, uid_t uid, gid_t gid) { (void)fd; (void)uid; (void)gid; return 0; }
uid_t geteuid(void) { return 0; }

/* Lock requests succeed without locking; F_GETLK reports no lock. */
int wasigate_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  switch (cmd) {
  case F_GETLK: {
    struct flock *l = va_arg(ap, struct flock *);
    l->l_type = F_UNLCK;
    va_end(ap);
    return 0;
  }
  case F_SETLK:
  case F_SETLKW:
    va_end(ap);
    return 0;
  default: {
    int arg = va_arg(ap, int);
    va_end(ap);
    return fcntl(fd, cmd, arg);
  }
  }
}
