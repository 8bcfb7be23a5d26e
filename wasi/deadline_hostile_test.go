package wasi

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// Modules built to outrun their deadline (testdata/hostile, with their
// .wat sources and build.sh). A guest that never passes through Go stalls
// every stop-the-world of the process: the test's own timers with it. So
// each one runs in a child process of the test binary (inChild), which
// the parent kills and reports when it does not end in time.

func hostilePath(name string) string { return filepath.Join("testdata", "hostile", name) }

// childEnv names the test a child process of the test binary runs.
const childEnv = "WASIGATE_TEST_CHILD"

// inChild reports whether this process is the child that runs t's body.
// In the parent it runs the test binary again for t alone, fails t if the
// child fails or is still running after limit (then it is killed), and
// returns false.
func inChild(t *testing.T, limit time.Duration) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		t.Errorf("the process hung for %v and was killed: a guest that never passes through Go stalls every goroutine\n%s", limit, lastLines(out, 20))
	case err != nil:
		t.Errorf("child: %v\n%s", err, lastLines(out, 40))
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Errorf("child did not run %s\n%s", t.Name(), lastLines(out, 20))
	}
	return false
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestHostileRefused: modules that are invalid as given but valid once
// the rewrite appended its globals (they write the interrupt flag or the
// counter), and modules using wasigate's reserved names, are refused at
// compile time, by the engine in both deadline modes and by the rewriter
// itself, and never written to the compilation cache as accepted.
func TestHostileRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		want error
	}{
		{"flag_clear.wasm", ErrMalformedModule},
		{"counter_clear.wasm", ErrMalformedModule},
		{"reserved_export.wasm", ErrReservedName},
		{"reserved_import.wasm", ErrReservedName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wasm, err := os.ReadFile(hostilePath(tc.name))
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{DeadlineInstrument, DeadlineWazero} {
				e := deadlineEngine(t, mode)
				_, err := e.Compile(context.Background(), tc.name, wasm)
				want := tc.want
				if mode == DeadlineWazero && want == ErrReservedName {
					want = nil // not rewritten: the names mean nothing to wazero's check
				}
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Errorf("%s: Compile: %v; want %v", mode, err, want)
				}
			}
			if _, err := rewrite.Instrument(wasm); err == nil {
				t.Error("rewrite.Instrument accepted it; want the undeclared index or the name refused")
			}
			// Twice with a cache: the refusal leaves no marker that would
			// let the second compile skip the validation.
			dir := t.TempDir()
			for i := range 2 {
				e, err := NewEngine(context.Background(), Options{CacheDir: dir, NiceAfter: -1})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.Compile(context.Background(), tc.name, wasm); !errors.Is(err, tc.want) {
					t.Errorf("compile %d with a cache: %v; want %v", i+1, err, tc.want)
				}
				e.Close(context.Background())
			}
		})
	}
}

// TestHostileStopped: modules that would outrun their deadline under
// wazero's check or a rewrite without weights (plain recursion without
// memory, a spinning start section, 64 MiB fills in a loop and in a
// straight-line callee, table fills, straight-line work left in every
// frame of a deep recursion) stop within their timeout + 1 s,
// with the deadline's error, and a garbage collection started while they
// spin completes in under a second.
func TestHostileStopped(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, name := range []string{"fib_nomem.wasm", "start_spin.wasm", "fill_loop.wasm", "fill_call.wasm", "table_fill.wasm", "unwind.wasm"} {
		t.Run(name, func(t *testing.T) {
			if !inChild(t, 15*time.Second) {
				return
			}
			e := deadlineEngine(t, DeadlineInstrument)
			m, err := e.CompileFile(context.Background(), hostilePath(name))
			if err != nil {
				t.Fatal(err)
			}
			if m.Deadline != DeadlineInstrument {
				t.Fatalf("Deadline = %q; want %q", m.Deadline, DeadlineInstrument)
			}
			p, err := m.Prepare(Config{MemoryLimit: 128 << 20})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start, cpu0 := time.Now(), benchCPU()
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, &Call{Stdout: io.Discard, Stderr: io.Discard}) }()
			time.Sleep(50 * time.Millisecond) // the guest is spinning
			gc := make(chan time.Duration, 1)
			go func() {
				s := time.Now()
				runtime.GC()
				gc <- time.Since(s)
			}()
			select {
			case d := <-gc:
				if d > time.Second {
					t.Errorf("runtime.GC took %v while the guest ran; want <= 1s", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("runtime.GC did not complete in 5 s while the guest ran")
			}
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Run: %v; want an error wrapping context.DeadlineExceeded", err)
				}
				// The bound is on the work the guest does past its
				// deadline: on a machine whose cores other processes take
				// (go test runs packages in parallel), the wall time
				// stretches while the process's CPU time does not.
				if d, c := time.Since(start), time.Duration(benchCPU()-cpu0); d > timeout+time.Second && c > timeout+time.Second {
					t.Errorf("stopped after %v, %v of the process's CPU; want <= %v", d, c, timeout+time.Second)
				}
			case <-time.After(timeout + 5*time.Second):
				t.Fatalf("still running %v after its deadline", 5*time.Second)
			}
		})
	}
}
