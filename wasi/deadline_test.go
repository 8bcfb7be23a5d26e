package wasi

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// guestPath is a test guest of testdata/guests.
func guestPath(name string) string { return filepath.Join(repoDir, "testdata", "guests", name) }

// deadlineEngine is an engine with the given Options.Deadline, closed with
// the test.
func deadlineEngine(t testing.TB, mode string) *Engine {
	t.Helper()
	e, err := NewEngine(context.Background(), Options{Deadline: mode, NiceAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// TestDeadlineStopsGuest runs guests that never end on their own under
// both mechanisms (compiled checks and wazero's WithCloseOnContextDone)
// and checks each is stopped soon after its
// deadline, or after its context is cancelled (the client left), with
// the error Run documents. The bound is generous for a shared machine;
// BenchmarkDeadlineStop measures the real delay.
func TestDeadlineStopsGuest(t *testing.T) {
	// In a child process: a rewrite without its trips through Go would
	// stall the collector, and with it this whole binary (inChild).
	if !inChild(t, 45*time.Second) {
		return
	}
	const bound = 500 * time.Millisecond
	guests := []struct {
		name string
		env  []string
		// wazero checks only at loop back-edges (lower.go, ensureTermination
		// is used in the loop opcode alone): recursion without a loop runs on.
		wazeroMisses bool
	}{
		{"loop.wasm", nil, false},                                 // loop br 0
		{"fib.wasm", nil, true},                                   // recursion, no loop
		{"spin.wasm", []string{"SPIN_N=1000000000000000"}, false}, // tight C loop
	}
	for _, mode := range []string{DeadlineInstrument, DeadlineWazero} {
		e := deadlineEngine(t, mode)
		for _, g := range guests {
			if mode == DeadlineWazero && g.wazeroMisses {
				continue
			}
			m, err := e.CompileFile(context.Background(), guestPath(g.name))
			if err != nil {
				t.Fatal(err)
			}
			if m.Deadline != mode {
				t.Errorf("%s: Deadline = %q; want %q", g.name, m.Deadline, mode)
			}
			p, err := m.Prepare(Config{})
			if err != nil {
				t.Fatal(err)
			}
			for _, stop := range []struct {
				how  string
				want error
			}{{"deadline", context.DeadlineExceeded}, {"cancel", context.Canceled}} {
				t.Run(mode+"/"+g.name+"/"+stop.how, func(t *testing.T) {
					// A cancel's context has a deadline far away, so that a
					// loaded machine firing the timer late still tests cancel.
					timeout := 100 * time.Millisecond
					if stop.how == "cancel" {
						timeout = 30 * time.Second
					}
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					defer cancel()
					if stop.how == "cancel" {
						time.AfterFunc(50*time.Millisecond, cancel)
					}
					ended := contextEnd(ctx)
					err := p.Run(ctx, &Call{Env: g.env, Stdout: io.Discard, Stderr: io.Discard})
					late := time.Since(<-ended)
					if !errors.Is(err, stop.want) {
						t.Errorf("Run: %v; want an error wrapping %v", err, stop.want)
					}
					if late > bound {
						t.Errorf("stopped %v after the context ended; want <= %v", late, bound)
					}
				})
			}
		}
	}
}

// contextEnd returns a channel that receives the time ctx ended; call it
// before the Run, so that the time is the context's end and not the Run's
// return.
func contextEnd(ctx context.Context) <-chan time.Time {
	ended := make(chan time.Time, 1)
	context.AfterFunc(ctx, func() { ended <- time.Now() })
	return ended
}

// TestGCWhileGuestSpins: a garbage collection must not wait for a
// spinning guest to end. Go cannot preempt machine code, so an
// instrumented guest that never left it (no trip through Go) held up the
// collector's stop-the-world, and with it the goroutine meant to stop the
// guest: the whole process hung.
func TestGCWhileGuestSpins(t *testing.T) {
	const bound = 500 * time.Millisecond
	for _, g := range []struct {
		name string
		env  []string
	}{{"loop.wasm", nil}, {"fib.wasm", nil}, {"spin.wasm", []string{"SPIN_N=1000000000000000"}}} {
		t.Run(g.name, func(t *testing.T) {
			// In a child process: a guest that never passes through Go
			// would stall this whole binary (inChild).
			if !inChild(t, 15*time.Second) {
				return
			}
			e := deadlineEngine(t, DeadlineInstrument)
			m, err := e.CompileFile(context.Background(), guestPath(g.name))
			if err != nil {
				t.Fatal(err)
			}
			p, err := m.Prepare(Config{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, &Call{Env: g.env, Stdout: io.Discard, Stderr: io.Discard}) }()
			time.Sleep(50 * time.Millisecond) // the guest is spinning
			start := time.Now()
			runtime.GC()
			if d := time.Since(start); d > bound {
				t.Errorf("runtime.GC took %v while the guest ran; want <= %v", d, bound)
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v; want an error wrapping context.Canceled", err)
			}
		})
	}
}
