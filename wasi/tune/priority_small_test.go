package tune

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNice returns the calling thread's nice value.
func threadNice(t *testing.T) int {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, threadID())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

// TestGuardCountsCPUNotTime: the guard reads a run's CPU time first a
// while into it and counts that while as used. A guest that only sleeps
// must keep its priority whatever the threshold (one under the first
// look's 100 us floor was lowered at once), and one that sleeps through
// the first look and then spins must still be lowered.
func TestGuardCountsCPUNotTime(t *testing.T) {
	if !canNice {
		t.Skip("thread priorities are Linux's")
	}
	for _, handoff := range []bool{false, true} {
		for _, after := range []time.Duration{20 * time.Millisecond, 500 * time.Microsecond, 150 * time.Microsecond, 50 * time.Microsecond} {
			g := NewGuard(after, false)
			if handoff {
				g.ForceHandoff()
			}
			var nice int
			for i := 0; i < 5; i++ {
				_ = g.Run(func() error {
					time.Sleep(max(5*after, 5*time.Millisecond))
					nice = threadNice(t)
					return nil
				})
				if nice != 0 {
					t.Errorf("handoff %v, after %v: a sleeping guest's nice: got %d; want 0", handoff, after, nice)
					break
				}
			}
			_ = g.Run(func() error {
				time.Sleep(3 * after)
				spin(5 * after)
				// The guard's timer fires at least 1 ms apart, late on a
				// loaded machine: spin until lowered, for 300 ms at most.
				for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
					if nice = threadNice(t); nice == 19 {
						break
					}
					spin(after)
				}
				return nil
			})
			if nice != 19 {
				t.Errorf("handoff %v, after %v: sleep, then spin past the threshold: nice got %d; want 19", handoff, after, nice)
			}
		}
	}
}
