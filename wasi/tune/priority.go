package tune

import (
	"runtime"
	"sync"
	"time"
)

// DefaultNiceAfter is how much CPU time a guest uses at normal priority when
// the Guard's threshold is 0.
const DefaultNiceAfter = 20 * time.Millisecond

// runnerIdle is how long an idle runner goroutine waits for another guest
// before it ends.
const runnerIdle = time.Minute

// Guard runs guests under the CPU-priority guard
// (cmd/wasigate/DECISIONS.md#a-spinning-guest-runs-at-the-lowest-priority)
// and tunes the runtime while lowered guests run (tune.go). The engine has
// one.
type Guard struct {
	nice    time.Duration // NewGuard's niceAfter
	tune    *tuner
	runners chan *job // idle runner goroutines receive here
	// canRestore: the process may raise a lowered thread's priority
	// again, so guests run on the caller's thread.
	canRestore bool
}

// NewGuard returns a guard that lowers a guest's thread once it has used
// niceAfter of CPU time (0: DefaultNiceAfter; negative: never), and, with
// tuneRuntime, raises GOGC while lowered guests run (never GOMAXPROCS,
// whose change stops the world: see tune.go).
func NewGuard(niceAfter time.Duration, tuneRuntime bool) *Guard {
	g := &Guard{nice: niceAfter, tune: newTuner(tuneRuntime && canNice), runners: make(chan *job)}
	g.canRestore = g.NiceAfter() > 0 && probeRestore()
	return g
}

// NiceAfter returns the guard's threshold, or 0 when guests keep their
// priority.
func (g *Guard) NiceAfter() time.Duration {
	switch {
	case !canNice || g.nice < 0:
		return 0
	case g.nice == 0:
		return DefaultNiceAfter
	}
	return g.nice
}

// SetNiceAfter changes the threshold (benchmarks measure guests alone
// with a negative one).
func (g *Guard) SetNiceAfter(d time.Duration) { g.nice = d }

// CanRestore reports whether guests run on the caller's thread, whose
// priority is given back after (true), or on runner goroutines.
func (g *Guard) CanRestore() bool { return g.canRestore }

// ForceHandoff makes g run guests on runner goroutines, as in a process
// that may not restore priorities (for tests).
func (g *Guard) ForceHandoff() { g.canRestore = false }

// job is one guest run handed to a runner.
type job struct {
	f    func() error
	done chan result
}

type result struct {
	err   error
	panic any // recovered from f, re-raised in the caller
	ok    bool
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan result, 1)} }}

// Run runs f, a guest's entrypoint, on an OS thread of its own whose CPU
// priority drops to the lowest once f has used the engine's threshold of
// CPU time, so that a spinning guest cannot starve the server.
//
// Compiled wasm is preempted by Go's scheduler, but a spinning guest stays
// runnable and takes its share of the CPU like any request: 16 looping
// guests on 2 cores left a healthy route about 10 req/s. A lowered thread
// runs only on what the others leave. An unprivileged process cannot raise
// a thread's priority again, so the runner goroutine ends while still
// locked to the lowered thread, and the runtime ends the thread with it:
// that is why f runs on a runner goroutine and not the caller's. Runners
// are reused between short runs, which keeps their grown stacks.
func (g *Guard) Run(f func() error) error {
	after := g.NiceAfter()
	if after <= 0 {
		return f()
	}
	if g.canRestore {
		return g.inline(f, after)
	}
	j := jobs.Get().(*job)
	j.f = f
	select {
	case g.runners <- j:
	default:
		go g.runner(j, after)
	}
	r := <-j.done
	j.f = nil
	jobs.Put(j)
	if !r.ok {
		panic(r.panic) // where the caller's recovery sees it
	}
	return r.err
}

// inline runs f on the caller's goroutine, locked to its thread, and
// gives the thread its priority back afterwards if it was lowered. It is
// used when the process may do that (CAP_SYS_NICE): it saves the handoff
// to a runner goroutine, which cost a short C guest about 15 us (24 us
// against 41 us per run in BenchmarkRunShortC).
func (g *Guard) inline(f func() error, after time.Duration) error {
	w := workers.Get().(*worker)
	w.g, w.after = g, after
	if w.timer == nil {
		w.timer = time.AfterFunc(time.Hour, w.lower)
		w.timer.Stop()
	}
	runtime.LockOSThread()
	w.begin()
	defer func() {
		w.timer.Stop()
		w.mu.Lock()
		w.running = false
		lowered := w.lowered
		w.lowered = false
		tid := w.tid
		w.mu.Unlock()
		if lowered {
			g.tune.leave()
			if restorePriority(tid) != nil {
				// Cannot happen once probed; if it does, the thread stays
				// with this goroutine and ends with it.
				return
			}
		}
		runtime.UnlockOSThread()
		workers.Put(w)
	}()
	return f()
}

var workers = sync.Pool{New: func() any { return &worker{} }}

// runner runs jobs until one is lowered or none comes for runnerIdle.
func (g *Guard) runner(j *job, after time.Duration) {
	w := &worker{g: g, after: after}
	w.timer = time.AfterFunc(time.Hour, w.lower)
	w.timer.Stop()
	idle := time.NewTimer(runnerIdle)
	for w.run(j) {
		idle.Reset(runnerIdle)
		select {
		case j = <-g.runners:
		case <-idle.C:
			return
		}
	}
	// Lowered: return while locked, so the runtime ends the thread.
}

// worker is the state a runner's priority timer shares with it.
type worker struct {
	g     *Guard
	after time.Duration
	timer *time.Timer

	mu      sync.Mutex
	tid     int
	start   time.Time
	cpu0    time.Duration // the thread's CPU time at start, at most
	cpuRead bool          // cpu0 is known: the run has been looked at once
	running bool
	lowered bool
}

// firstLook is how far into its threshold a run is looked at first: its
// thread's CPU time is read then, not at the start, since reading it
// was a system call on every request's path (about 1% of the server's
// CPU serving a C guest) while nearly every run ends before this.
const firstLook = 20

// look returns when a run is first looked at.
func (w *worker) look() time.Duration {
	return max(w.after/firstLook, 100*time.Microsecond)
}

// run runs one job on the locked thread and reports whether the thread
// can serve another.
func (w *worker) run(j *job) bool {
	runtime.LockOSThread()
	w.begin()

	var r result
	func() {
		defer func() {
			if !r.ok {
				r.panic = recover()
			}
		}()
		r.err = j.f()
		r.ok = true
	}()

	w.timer.Stop()
	w.mu.Lock()
	w.running = false
	lowered := w.lowered
	w.mu.Unlock()
	j.done <- r
	if lowered {
		w.g.tune.leave()
		return false
	}
	runtime.UnlockOSThread()
	return true
}

// begin marks the start of a run on the current, locked thread.
func (w *worker) begin() {
	w.mu.Lock()
	w.tid = threadID()
	w.start = time.Now()
	w.cpu0, w.cpuRead = 0, false
	w.running = true
	w.mu.Unlock()
	w.timer.Reset(w.look())
}

// lower is the timer's function. It lowers the thread once the guest has
// used the threshold in CPU time, not merely lived that long: a guest
// waiting for its client or sleeping, or a short one that an overloaded
// machine kept waiting, keeps its priority. A late call from an earlier
// run finds running false, or a start too recent, and does nothing.
//
// The first call, look() into the run, reads the thread's CPU time and
// counts the time since the start as used, the most the guest can have
// used before. A first call the machine delayed counts at most twice
// look(), so that a guest that was kept waiting is not taken for one that
// spun; a spinning one is then lowered as late as that delay, as a late
// timer always made it. A guest may so be lowered up to twice look() of
// CPU time early (a tenth of the threshold: one that slept through a late
// first look), never half the threshold or more.
func (w *worker) lower() {
	w.mu.Lock()
	defer w.mu.Unlock()
	since := time.Since(w.start)
	if !w.running || w.lowered || since < w.look() {
		return
	}
	if !w.cpuRead {
		// Never count the threshold itself: look()'s floor exceeds a
		// threshold under 200 us, whose sleeping guest would be lowered.
		w.cpu0, w.cpuRead = threadCPU(w.tid)-min(since, 2*w.look(), w.after/2), true
	}
	if used := threadCPU(w.tid) - w.cpu0; used < w.after {
		w.timer.Reset(max(w.after-used, time.Millisecond))
		return
	}
	// Even if it fails, the thread is never handed back.
	w.lowered = true
	_ = lowerPriority(w.tid)
	w.g.tune.enter()
}
