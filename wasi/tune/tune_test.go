package tune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// otherPauses counts the process's stop-the-world pauses that were not
// the garbage collector's (runtime.GOMAXPROCS, ReadMemStats, ...).
func otherPauses() uint64 {
	m := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(m)
	var n uint64
	for _, c := range m[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// spin uses d of this thread's CPU time.
func spin(d time.Duration) {
	tid := threadID()
	start := threadCPU(tid)
	for threadCPU(tid)-start < d {
	}
}

// TestLoweredGuestsStopNoWorld runs guests that get lowered through a
// tuning guard and checks that the tuner stopped the world for none of
// them: a stop waits until every running guest passes through Go, so one
// guest that does not would hang the server. GOMAXPROCS stays as the
// guard set it;
// GOGC is raised while they run and put back after.
func TestLoweredGuestsStopNoWorld(t *testing.T) {
	if !canNice {
		t.Skip("guests are lowered on Linux only")
	}
	t.Setenv("GOMAXPROCS", "")
	t.Setenv("GOGC", "")
	savedGC := debug.SetGCPercent(400)
	t.Cleanup(func() { debug.SetGCPercent(savedGC) })
	g := NewGuard(5*time.Millisecond, true) // sets GOMAXPROCS, before any guest
	procs := runtime.GOMAXPROCS(0)
	before := otherPauses()
	for range 3 {
		if err := g.Run(func() error { spin(15 * time.Millisecond); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := otherPauses() - before; got != 0 {
		t.Errorf("stop-the-world pauses while lowered guests ran: got %d; want 0", got)
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS after lowered guests: got %d; want %d (unchanged)", got, procs)
	}
	if got := gcPercent(); got != tuneGC {
		t.Errorf("GOGC while tuned: got %d; want %d", got, tuneGC)
	}
	g.tune.restore()
	if got := gcPercent(); got != 400 {
		t.Errorf("GOGC after restore: got %d; want 400", got)
	}
}

// TestTunerLeavesChosenGC: GOGC off or 0, or already above the tuner's
// value, is the operator's choice and is kept.
func TestTunerLeavesChosenGC(t *testing.T) {
	saved := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(saved) })
	t.Setenv("GOGC", "")
	for _, percent := range []int{-1, 0, 3200} {
		debug.SetGCPercent(percent)
		tu := newTuner(true)
		tu.enter()
		if got := gcPercent(); got != percent {
			t.Errorf("GOGC %d after enter: got %d; want it kept", percent, got)
		}
		tu.leave()
		tu.calmTime.Stop()
		tu.restore()
		if got := gcPercent(); got != percent {
			t.Errorf("GOGC %d after restore: got %d; want it kept", percent, got)
		}
	}
}
