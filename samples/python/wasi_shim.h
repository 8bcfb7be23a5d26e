/* Forced into sqlite3.c when it is built for wasm32-wasi (install.sh):
 * WASI has no file locks, no owners and no modes, so sqlite's unix VFS
 * gets no-op stand-ins (wasi_stubs.c). Locking is therefore a no-op:
 * concurrent writers to one database file are unsafe (issue 14). */
#include <sys/types.h>
#include <fcntl.h>
/* wasi-libc declares struct flock but not the lock types or commands. */
#ifndef F_RDLCK
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#endif
#ifndef F_GETLK
#define F_GETLK 5
#endif
#ifndef F_SETLK
#define F_SETLK 6
#endif
#ifndef F_SETLKW
#define F_SETLKW 7
#endif
int fchmod(int fd, mode_t mode);
int fchown(int fd, uid_t uid, gid_t gid);
uid_t geteuid(void);
int wasigate_fcntl(int fd, int cmd, ...);
#define fcntl wasigate_fcntl
