package tune

import (
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Runtime settings while guests spin. A guest whose priority was lowered
// still holds one of Go's Ps (GOMAXPROCS) while it runs, and every garbage
// collection must wait for each running guest to reach a trip through Go,
// which a lowered thread does slowly: with 16 spinning guests, collections
// took 0.1-0.5 s each and requests that allocated waited for them. So the
// engine gives lowered guests Ps of their own, and collects less often
// (GOGC) while any runs lowered, putting GOGC back once none has been
// lowered for tuneCalm.
//
// The Ps are added once, when the first tuning engine is made, before any
// of its guests runs, and never while guests run: runtime.GOMAXPROCS(n)
// and runtime.SetDefaultGOMAXPROCS stop the world (stopTheWorldGC in
// runtime/debug.go), and a stop waits until every running guest passes
// through Go, so a guest that did not hung the whole server, SIGTERM
// included, from the request that got it lowered. debug.SetGCPercent with
// a value >= 0 only takes the heap lock and recomputes the pacer
// (setGCPercent and gcControllerCommit in runtime/mgcpacer.go): it never
// waits on a goroutine. A negative value waits for the running mark phase
// (gcWaitOnMark), so the tuner never passes one: it reads the current
// value from runtime/metrics instead of probing with a set.
const (
	tuneCalm = 10 * time.Second
	// tuneLowered is how many lowered guests the Ps are sized for: the
	// attack measured (16 looping guests) and the old per-guest raise's
	// value for it, so the same Ps are there from the start.
	tuneLowered  = 16
	tuneMaxProcs = 256
	// tuneGC is GOGC while raised (16 times Go's default, the value
	// measured); the soft memory limit (gc.go) still bounds the heap.
	tuneGC = 1600
)

// procsOnce: GOMAXPROCS is set by the first tuning engine of the process
// only; a later one (tests make many) might have guests running beside it.
var procsOnce sync.Once

// raiseProcs sets GOMAXPROCS to the usual twice plus one P per lowered
// guest of tuneLowered, in a power of two, unless the environment set it.
func raiseProcs() {
	procsOnce.Do(func() {
		if os.Getenv("GOMAXPROCS") != "" {
			return
		}
		base := runtime.GOMAXPROCS(0)
		if want := min(tuneMaxProcs, 1<<bits.Len(uint(2*base+tuneLowered-1))); want > base {
			runtime.GOMAXPROCS(want)
		}
	})
}

// tuner raises and restores GOGC. It leaves alone a GOGC the user set
// through the environment.
type tuner struct {
	gc bool // may change GOGC

	mu       sync.Mutex
	lowered  int // guests running lowered
	baseGC   int // GOGC before raising; 0 when not raised
	calmTime *time.Timer
}

func newTuner(on bool) *tuner {
	if on {
		raiseProcs()
	}
	return &tuner{gc: on && os.Getenv("GOGC") == ""}
}

// gcPercent returns the collector's current percentage (-1: off) without
// setting it.
func gcPercent() int {
	m := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	// The runtime keeps it as an int32: off (-1) comes back as 2^64-1.
	return int(int32(m[0].Value.Uint64()))
}

// enter records a guest that got lowered and raises GOGC if needed.
func (t *tuner) enter() {
	if !t.gc {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lowered++
	if t.calmTime != nil {
		t.calmTime.Stop()
	}
	// Off (-1) and 0 ("collect all the time") were chosen on purpose and
	// stay; a value already at or above tuneGC too.
	if prev := gcPercent(); t.baseGC == 0 && prev > 0 && prev < tuneGC {
		t.baseGC = prev
		debug.SetGCPercent(tuneGC)
	}
}

// leave records that a lowered guest ended.
func (t *tuner) leave() {
	if !t.gc {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lowered--
	if t.lowered == 0 {
		t.calmTime = time.AfterFunc(tuneCalm, t.restore)
	}
}

// restore puts GOGC back when no guest is lowered.
func (t *tuner) restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lowered > 0 {
		return
	}
	if t.baseGC != 0 {
		debug.SetGCPercent(t.baseGC)
		t.baseGC = 0
	}
}
