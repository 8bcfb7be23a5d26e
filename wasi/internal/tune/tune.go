package tune

import (
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Runtime settings while guests spin (issue 3). A guest whose priority was
// lowered still holds one of Go's Ps (GOMAXPROCS) while it runs, and every
// garbage collection must wait for each running guest to reach a
// preemption point, which a low-priority thread does slowly: with 16
// spinning guests, collections took 0.1-0.5 s each and requests that
// allocated waited for them. So while any guest runs lowered the engine
// adds Ps for them and collects less often, and puts both back once no
// guest has been lowered for tuneCalm.
const (
	tuneCalm     = 10 * time.Second
	tuneMaxProcs = 256
	// tuneGC is GOGC while raised (16 times Go's default, the value
	// measured); the soft memory limit (gc.go) still bounds the heap.
	tuneGC = 1600
)

// tuner raises and restores GOMAXPROCS and GOGC. It leaves alone what the
// user set through the environment.
type tuner struct {
	procs, gc bool // may change GOMAXPROCS, GOGC

	mu       sync.Mutex
	lowered  int // guests running lowered
	base     int // GOMAXPROCS before raising; 0 when not raised
	baseGC   int // GOGC before raising; 0 when not raised
	calmTime *time.Timer
}

func newTuner(on bool) *tuner {
	return &tuner{
		procs: on && os.Getenv("GOMAXPROCS") == "",
		gc:    on && os.Getenv("GOGC") == "",
	}
}

// enter records a guest that got lowered and raises the settings if
// needed.
func (t *tuner) enter() {
	if !t.procs && !t.gc {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lowered++
	if t.calmTime != nil {
		t.calmTime.Stop()
	}
	if t.procs {
		if t.base == 0 {
			t.base = runtime.GOMAXPROCS(0)
		}
		// The usual Ps for everything else, one per lowered guest, in
		// powers of two: each change stops the world.
		want := min(tuneMaxProcs, 1<<bits.Len(uint(2*t.base+t.lowered-1)))
		if want > runtime.GOMAXPROCS(0) {
			runtime.GOMAXPROCS(want)
		}
	}
	if t.gc && t.baseGC == 0 {
		if prev := debug.SetGCPercent(tuneGC); prev > 0 {
			t.baseGC = prev
			debug.SetGCPercent(max(tuneGC, prev))
		} else {
			debug.SetGCPercent(prev) // collection is off: leave it so
		}
	}
}

// leave records that a lowered guest ended.
func (t *tuner) leave() {
	if !t.procs && !t.gc {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lowered--
	if t.lowered == 0 {
		t.calmTime = time.AfterFunc(tuneCalm, t.restore)
	}
}

// restore puts the settings back when no guest is lowered.
func (t *tuner) restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lowered > 0 {
		return
	}
	if t.base != 0 {
		// Back to the runtime's own choice, which also follows CPU
		// limits again.
		runtime.SetDefaultGOMAXPROCS()
		t.base = 0
	}
	if t.baseGC != 0 {
		debug.SetGCPercent(t.baseGC)
		t.baseGC = 0
	}
}
