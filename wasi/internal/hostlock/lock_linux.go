package hostlock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// setLock sets an open file description lock (Linux 3.15): owned by the
// descriptor, so instances in one process conflict like processes do.
func setLock(f *os.File, typ Type, start, length int64) Errno {
	lk := unix.Flock_t{Type: unixType[typ], Whence: 0, Start: start, Len: length}
	return errnoOf(unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk))
}

func getLock(f *os.File, typ Type, start, length int64) (Type, Errno) {
	lk := unix.Flock_t{Type: unixType[typ], Whence: 0, Start: start, Len: length}
	if e := errnoOf(unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk)); e != OK {
		return 0, e
	}
	for t, u := range unixType {
		if u == lk.Type {
			return t, OK
		}
	}
	return 0, EIO
}

// unixType maps the guest's lock types to the host's, which differ on
// some architectures.
var unixType = map[Type]int16{Read: unix.F_RDLCK, Write: unix.F_WRLCK, Unlock: unix.F_UNLCK}

func errnoOf(err error) Errno {
	var se unix.Errno
	switch {
	case err == nil:
		return OK
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
		return EAGAIN
	case !errors.As(err, &se):
		return EIO
	case se == unix.EBADF:
		return EBADF
	case se == unix.EINVAL:
		return EINVAL
	case se == unix.ENOLCK:
		return ENOLCK
	default:
		return EIO
	}
}
