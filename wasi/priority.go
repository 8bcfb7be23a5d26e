package wasi

import (
	"runtime"
	"sync"
	"time"
)

// DefaultNiceAfter is how long a guest runs at normal CPU priority when
// Options.NiceAfter is 0.
const DefaultNiceAfter = 20 * time.Millisecond

// niceAfter returns the engine's threshold, or 0 when guests keep their
// priority.
func (e *Engine) niceAfter() time.Duration {
	switch {
	case !canNice || e.nice < 0:
		return 0
	case e.nice == 0:
		return DefaultNiceAfter
	}
	return e.nice
}

// guestPanic carries a panic out of the goroutine that ran a guest.
type guestPanic struct{ v any }

// guarded runs f, a guest's entrypoint, on an OS thread of its own whose
// CPU priority drops to the lowest if f is still running after the
// engine's threshold (issue 3).
//
// Compiled wasm is preempted by Go's scheduler, but a spinning guest stays
// runnable and so takes its share of the CPU like any request: 16 looping
// guests on 2 cores left a healthy route about 10 req/s. A lowered thread
// runs only on what the others leave. An unprivileged process cannot raise
// a thread's priority again, so the goroutine ends while still locked to
// the lowered thread, and the runtime ends the thread with it: that is why
// f runs in a goroutine of its own. A short guest returns before the
// timer fires and its thread goes back to the pool unchanged.
func (e *Engine) guarded(f func() error) error {
	after := e.niceAfter()
	if after <= 0 {
		return f()
	}
	type result struct {
		err error
		p   *guestPanic
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		tid := threadID()
		var (
			mu      sync.Mutex
			ended   bool
			lowered bool
		)
		t := time.AfterFunc(after, func() {
			mu.Lock()
			defer mu.Unlock()
			if !ended {
				// Even when it fails, the thread may be half-changed:
				// never hand it back.
				lowered = true
				_ = lowerPriority(tid)
				e.tune.enter()
			}
		})
		var r result
		func() {
			defer func() {
				if v := recover(); v != nil {
					r.p = &guestPanic{v}
				}
			}()
			r.err = f()
		}()
		t.Stop()
		mu.Lock()
		ended = true
		keep := !lowered
		mu.Unlock()
		done <- r
		if keep {
			runtime.UnlockOSThread()
		} else {
			e.tune.leave()
		}
		// Otherwise return while locked: the runtime ends the thread.
	}()
	r := <-done
	if r.p != nil {
		panic(r.p.v) // where the caller's recovery can see it
	}
	return r.err
}
