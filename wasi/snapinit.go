package wasi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// A snapshot's init is a guest like any other: a reactor's _initialize,
// a start section, Ruby's preloads or a driver's wasigate_init may spin.
// The deadline checks stop an instrumented guest at snapshot_init_timeout;
// whatever the init does, start-up, reload and `wasigate check` wait for
// it at most that long plus initGrace, then go on without the snapshot (the
// route is served and runs the init in every request, under the request's
// own timeout, as it would have with snapshot = false). An init that did
// not stop runs on in the background, owning its scratch module and
// memory, and is released when it ends.

// initGrace is how long past snapshot_init_timeout an init may take to
// stop: the deadline checks take well under a millisecond.
const initGrace = time.Second

// initCloseWait is how long Engine.Close waits for inits still running.
const initCloseWait = 2 * time.Second

// errInitRunning: Engine.Close found a snapshot's init still running after
// initCloseWait and left the runtime open rather than unmap code and
// memory under it.
var errInitRunning = errors.New("a snapshot's init is still running; the runtime is left open")

// initTimeout is the engine's snapshot_init_timeout.
func (e *Engine) initTimeout() time.Duration {
	if e.snapTimeout > 0 {
		return e.snapTimeout
	}
	return seam.DefaultSnapshotInitTimeout
}

// boundedInit runs the init (runInit) in a goroutine that owns scratch and
// closes it, and returns its result, or an error wrapping ErrNoSnapshot
// once initTimeout and initGrace have passed without one.
func (m *Module) boundedInit(scratch wazero.CompiledModule, globals int, limit uint64, in snap.Inputs) (values []uint64, mem []byte, took initTimes, err error) {
	e := m.engine
	timeout := e.initTimeout()
	type result struct {
		values []uint64
		mem    []byte
		took   initTimes
		err    error
	}
	done := make(chan result, 1)
	e.inits.Add()
	go func() {
		defer e.inits.Done()
		defer scratch.Close(context.Background())
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{err: fmt.Errorf("%w: init: %v", ErrNoSnapshot, p)}
			}
			done <- r
		}()
		r.values, r.mem, r.took, r.err = m.runInit(scratch, globals, limit, in, timeout)
	}()
	t := time.NewTimer(timeout + initGrace)
	defer t.Stop()
	select {
	case r := <-done:
		return r.values, r.mem, r.took, r.err
	case <-t.C:
		return nil, nil, initTimes{}, fmt.Errorf("%w: the init did not stop within snapshot_init_timeout (%s) and was abandoned; make it return, or raise [server] snapshot_init_timeout", ErrNoSnapshot, timeout)
	}
}
