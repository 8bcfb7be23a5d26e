package tune

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// canNice: on Linux, setpriority with PRIO_PROCESS and a thread id changes
// that one thread's nice value (setpriority(2), NOTES).
const canNice = true

func threadID() int { return unix.Gettid() }

// lowerPriority gives thread tid the lowest priority, nice 19 (measured
// against nice 10: 1.5-1.7x against 2.5-2.7x drop of the healthy route).
func lowerPriority(tid int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
}

// restorePriority gives thread tid its normal priority back. Only a
// process with CAP_SYS_NICE (root, usually) may; see canRestore.
func restorePriority(tid int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, tid, 0)
}

// probeRestore reports whether this process may raise a lowered thread's
// priority again. It tries on a thread of its own, which it ends (by
// returning while locked) when the answer is no.
func probeRestore() bool {
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread()
		tid := threadID()
		if lowerPriority(tid) != nil {
			ok <- false
			return
		}
		if restorePriority(tid) != nil {
			ok <- false
			return // still locked: the runtime ends the lowered thread
		}
		runtime.UnlockOSThread()
		ok <- true
	}()
	return <-ok
}

// threadCPU returns the CPU time thread tid of this process has used, or 0
// if it cannot be read. The clock id is the kernel's per-thread CPU clock
// (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), as pthread_getcpuclockid
// builds it).
func threadCPU(tid int) time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(int32(^uint32(tid)<<3|6), &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
