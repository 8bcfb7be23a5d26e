package wasi_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi"
)

// prioRoot is the repository's root folder.
var prioRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

// prioProgram compiles a guest of the repository into a fresh engine.
func prioProgram(t testing.TB, opts wasi.Options, rel string) *wasi.Program {
	return prioProgramMode(t, opts, rel, false)
}

// prioProgramMode is prioProgram; handoff forces runner goroutines even
// where the process could restore priorities on the caller's thread.
func prioProgramMode(t testing.TB, opts wasi.Options, rel string, handoff bool) *wasi.Program {
	t.Helper()
	ctx := context.Background()
	eng, err := wasi.NewEngine(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if handoff {
		wasi.ForceHandoff(eng)
	} else if opts.NiceAfter >= 0 && !wasi.CanRestore(eng) && runtime.GOOS == "linux" {
		t.Skip("this process may not restore a thread's priority (no CAP_SYS_NICE): only the runner path applies")
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.CompileFile(ctx, filepath.Join(prioRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	p, err := mod.Prepare(wasi.Config{MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lowThreads returns the ids of this process's threads whose nice value
// is 19, read from /proc/self/task/*/stat (proc(5): field 19).
func lowThreads(t *testing.T) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var low []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", d.Name(), "stat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		// Fields after the command name, which may hold spaces: state is
		// field 3, nice field 19.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 16 && fields[16] == "19" {
			tid, _ := strconv.Atoi(d.Name())
			low = append(low, tid)
		}
	}
	return low
}

// newThreads returns the ids in now that are not in before.
func newThreads(now, before []int) []int {
	var n []int
	for _, id := range now {
		if !slices.Contains(before, id) {
			n = append(n, id)
		}
	}
	return n
}

// TestGuestPriority runs guests for a few hundred milliseconds and checks
// which ones ran on a lowered thread: only a guest that uses CPU past
// NiceAfter, and its thread is gone once the run ends
// (cmd/wasigate/DECISIONS.md#a-spinning-guest-runs-at-the-lowest-priority).
func TestGuestPriority(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are lowered on Linux only")
	}
	tests := []struct {
		name      string
		guest     string
		env       []string
		niceAfter time.Duration
		wantLow   bool
		wantErr   error
	}{
		{"looping guest", "testdata/guests/loop.wasm", nil, 20 * time.Millisecond, true, context.DeadlineExceeded},
		{"sleeping guest uses no CPU", "testdata/guests/sleep.wasm", []string{"SLEEP_MS=300"}, 20 * time.Millisecond, false, nil},
		{"lowering off", "testdata/guests/loop.wasm", nil, -1, false, context.DeadlineExceeded},
	}
	for _, mode := range []string{"caller thread", "runner"} {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				p := prioProgramMode(t, wasi.Options{NiceAfter: tt.niceAfter}, tt.guest, mode == "runner")
				ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
				defer cancel()
				done := make(chan error, 1)
				before := lowThreads(t)
				go func() { done <- p.Run(ctx, &wasi.Call{Env: tt.env, Stdout: &bytes.Buffer{}}) }()
				// Watched for the whole run, not sampled once: on a loaded
				// machine the guest may reach NiceAfter late, and a thread
				// lowered at any moment of a run that should not be is a
				// failure too.
				var low []int
				var err error
			watch:
				for {
					select {
					case err = <-done:
						break watch
					case <-time.After(5 * time.Millisecond):
						if n := newThreads(lowThreads(t), before); len(n) > len(low) {
							low = n
						}
					}
				}
				if (tt.wantErr == nil && err != nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Errorf("Run: got error %v; want %v", err, tt.wantErr)
				}
				if got := len(low) == 1; got != tt.wantLow {
					t.Errorf("threads at nice 19 while the guest ran: got %v; want one: %v", low, tt.wantLow)
				}
				// The lowered thread must end with the run, not serve others.
				// The main thread cannot end: the runtime parks it for good
				// instead, which serves nothing either.
				before = append(before, os.Getpid())
				deadline := time.Now().Add(2 * time.Second)
				for len(newThreads(lowThreads(t), before)) > 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if low := newThreads(lowThreads(t), before); len(low) > 0 {
					t.Errorf("threads %v still at nice 19 after the run", low)
				}
			})
		}
	}
}

// TestShortGuestsKeepPriority runs many short guests in a row on the
// reused runner goroutines: all succeed and none leaves a lowered thread.
func TestShortGuestsKeepPriority(t *testing.T) {
	p := prioProgram(t, wasi.Options{}, "samples/c/hello.wasm")
	var before []int
	if runtime.GOOS == "linux" {
		before = lowThreads(t)
	}
	for i := range 200 {
		var out bytes.Buffer
		if err := p.Run(context.Background(), &wasi.Call{Stdout: &out}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if !strings.Contains(out.String(), "\n\n") {
			t.Fatalf("run %d: output %q; want a CGI header block", i, out.String())
		}
	}
	if runtime.GOOS == "linux" {
		if low := newThreads(lowThreads(t), before); len(low) > 0 {
			t.Errorf("threads %v at nice 19 after short runs; want none", low)
		}
	}
}

// BenchmarkRunShortC is the fast path: a C hello (about 35 us) that ends
// long before a guest's priority would be lowered.
func BenchmarkRunShortC(b *testing.B) {
	p := prioProgram(b, wasi.Options{}, "samples/c/hello.wasm")
	ctx := context.Background()
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := p.Run(ctx, &wasi.Call{Args: []string{"hello"}, Stdout: &out}); err != nil {
			b.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "\n\n") {
		b.Fatalf("output %q; want a CGI header block", out.String())
	}
}

// BenchmarkRunShortCNoNice is BenchmarkRunShortC with the priority guard
// off: the difference is what the guard costs a short guest.
func BenchmarkRunShortCNoNice(b *testing.B) {
	p := prioProgram(b, wasi.Options{NiceAfter: -1}, "samples/c/hello.wasm")
	ctx := context.Background()
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := p.Run(ctx, &wasi.Call{Args: []string{"hello"}, Stdout: &out}); err != nil {
			b.Fatal(err)
		}
	}
}
