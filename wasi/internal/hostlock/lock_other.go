//go:build !linux

package hostlock

import "os"

// Open file description locks are Linux's; elsewhere a lock call fails
// and sqlite reports an I/O error rather than running unlocked.
func setLock(f *os.File, typ Type, start, length int64) Errno { return ENOTSUP }

func getLock(f *os.File, typ Type, start, length int64) (Type, Errno) { return 0, ENOTSUP }
