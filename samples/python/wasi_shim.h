/* Forced into sqlite3.c when it is built for wasm32-wasi (install.sh).
 * WASI has no file locks, no owners and no modes. Owners and modes get
 * no-op stand-ins (wasi_stubs.c); locks go to the host: sqlite's own unix
 * VFS sets its POSIX advisory locks (SHARED, RESERVED, PENDING, EXCLUSIVE
 * as byte ranges) through fcntl, and wasigate_fcntl hands each of them to
 * wasigate's wasigate_lock.lock import with the path the file was opened
 * by (wasigate_open records it), where the host sets the same range on
 * the host file. So instances of one server, two servers and native
 * sqlite3 on the same machine exclude each other as native processes do. */
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
/* Only sqlite's posixOpen calls open(); function-like, so the name alone
 * (in its syscall table) stays the real one. */
int wasigate_open(const char *path, int flags, ...);
#define open(...) wasigate_open(__VA_ARGS__)
