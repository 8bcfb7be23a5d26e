package wasi

import "golang.org/x/sys/unix"

// canNice: on Linux, setpriority with PRIO_PROCESS and a thread id changes
// that one thread's nice value (setpriority(2), NOTES).
const canNice = true

func threadID() int { return unix.Gettid() }

// lowerPriority gives thread tid the lowest priority, nice 19 (measured
// against nice 10: 1.5-1.7x against 2.5-2.7x drop of the healthy route).
func lowerPriority(tid int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
}
