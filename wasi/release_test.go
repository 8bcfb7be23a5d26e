package wasi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// openFDs counts the process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// blockingReader blocks every Read until ctx ends, as a request body from
// a client that sends nothing would.
type blockingReader struct{ ctx context.Context }

func (r blockingReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

// blockingWriter blocks every Write until ctx ends, as a client that does
// not read would.
type blockingWriter struct{ ctx context.Context }

func (w blockingWriter) Write([]byte) (int, error) {
	<-w.ctx.Done()
	return 0, w.ctx.Err()
}

// cappedWriter fails every write past max bytes, as the host's output cap.
type cappedWriter struct{ n, max int }

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.max {
		return 0, errors.New("output cap reached")
	}
	w.n += len(p)
	return len(p), nil
}

// holdProgram prepares holdfiles.wasm with a read-only volume at /data.
func holdProgram(t testing.TB, e *Engine, c Config) *Program {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "holdfiles.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(context.Background(), "holdfiles.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	if c.Volumes == nil {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.Volumes = []seam.Mount{{Guest: "/data", Host: dir}}
	}
	p, err := m.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunReleasesResources: whichever way a run ends, including a stop
// while the guest waits inside a host function, the instance's files are
// closed and its pooled memory is back in the pool when Run returns (issue
// 9). The guest first opens 100 files and touches 16 MiB. Both deadline
// modes: wazero's check ends a guest by its own watcher, which leaves the
// release to closeInstance.
func TestRunReleasesResources(t *testing.T) {
	for _, mode := range []string{DeadlineInstrument, DeadlineWazero} {
		t.Run(mode, func(t *testing.T) { testRunReleasesResources(t, mode) })
	}
}

func testRunReleasesResources(t *testing.T, mode string) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{Deadline: mode})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p := holdProgram(t, e, Config{MemoryLimit: 64 << 20})
	tests := []struct {
		name    string
		mode    string
		timeout time.Duration // 0: none
		call    func(ctx context.Context) *Call
		wantErr func(error) bool
	}{
		{"normal exit", "", 0, nil, func(err error) bool { return err == nil }},
		{"trap", "trap", 0, nil, func(err error) bool { return err != nil && strings.Contains(err.Error(), "trapped") }},
		{"proc_exit non-zero", "exit3", 0, nil, func(err error) bool { var x *ExitError; return errors.As(err, &x) && x.Code == 3 }},
		{"timeout in a loop", "loop", 300 * time.Millisecond, nil, isDeadline},
		{"timeout while sleeping", "sleep", 300 * time.Millisecond, nil, isDeadline},
		{"cancel while reading stdin", "read", 300 * time.Millisecond, func(ctx context.Context) *Call {
			return &Call{Stdin: blockingReader{ctx}, Stdout: io.Discard}
		}, isDeadline},
		{"cancel while writing stdout", "write", 300 * time.Millisecond, func(ctx context.Context) *Call {
			return &Call{Stdout: blockingWriter{ctx}}
		}, isDeadline},
		{"output cap", "write", 0, func(context.Context) *Call {
			return &Call{Stdout: &cappedWriter{max: 1 << 20}}
		}, func(err error) bool { var x *ExitError; return errors.As(err, &x) && x.Code == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fdsBefore := openFDs(t)
			memBefore, bytesBefore := e.MemoryInUse()
			rctx := ctx
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				rctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			c := &Call{Stdout: io.Discard}
			if tc.call != nil {
				c = tc.call(rctx)
			}
			c.Args = []string{"holdfiles", tc.mode}
			c.Env = []string{"FILES=100", "MIB=16"}
			err := p.Run(rctx, c)
			if !tc.wantErr(err) {
				t.Errorf("Run: unexpected error %v", err)
			}
			fdsAfter := openFDs(t)
			memAfter, bytesAfter := e.MemoryInUse()
			t.Logf("fds %d -> %d; pooled memories %d (%d bytes) -> %d (%d bytes); rescued by Run %d",
				fdsBefore, fdsAfter, memBefore, bytesBefore, memAfter, bytesAfter, e.MemoryRescued())
			if fdsAfter != fdsBefore {
				t.Errorf("open fds after Run: got %d; want %d", fdsAfter, fdsBefore)
			}
			if memAfter != memBefore || bytesAfter != bytesBefore {
				t.Errorf("pooled memory in use after Run: got %d (%d bytes); want %d (%d bytes)", memAfter, bytesAfter, memBefore, bytesBefore)
			}
		})
	}
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// TestHoldfilesOpens checks the guest of TestRunReleasesResources really
// holds its files.
func TestHoldfilesOpens(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p := holdProgram(t, e, Config{MemoryLimit: 64 << 20})
	var out strings.Builder
	if err := p.Run(ctx, &Call{Args: []string{"holdfiles", "count"}, Env: []string{"FILES=100", "MIB=1"}, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if want := "opened 100 errno 0\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("got %q; want it to end with %q", out.String(), want)
	}
}

// fdProbe counts the process's fds when the guest first reads stdin, while
// it holds its files, then gives EOF.
type fdProbe struct {
	t   testing.TB
	fds int
}

func (p *fdProbe) Read([]byte) (int, error) {
	if p.fds == 0 {
		p.fds = openFDs(p.t)
	}
	return 0, io.EOF
}

// TestMaxOpenFiles: a guest opening 1,000 files in a volume gets an error
// past its cap and goes on; the process holds at most the cap's worth of
// descriptors for it (without a cap, one guest took 19,984).
func TestMaxOpenFiles(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	for _, tc := range []struct {
		name       string
		max        int
		wantOpened int // the preopened volume takes one place
	}{
		{"default", 0, seam.DefaultMaxOpenFiles - 1},
		{"cap 50", 50, 49},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := holdProgram(t, e, Config{MaxOpenFiles: tc.max})
			before := openFDs(t)
			probe := &fdProbe{t: t}
			var out strings.Builder
			err := p.Run(ctx, &Call{Args: []string{"holdfiles", "read"}, Env: []string{"FILES=1000", "MIB=1"}, Stdin: probe, Stdout: &out})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var count strings.Builder
			if err := p.Run(ctx, &Call{Args: []string{"holdfiles", "count"}, Env: []string{"FILES=1000", "MIB=1"}, Stdout: &count}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			// wasi-libc's EAGAIN is 6.
			want := fmt.Sprintf("opened %d errno 6\n", tc.wantOpened)
			if !strings.HasSuffix(count.String(), want) {
				t.Errorf("guest: got %q; want it to end with %q", count.String(), want)
			}
			t.Logf("fds before %d, while the guest held its files %d, after %d", before, probe.fds, openFDs(t))
			if held := probe.fds - before; held > tc.wantOpened+1 {
				t.Errorf("fds held by the guest: got %d; want at most %d", held, tc.wantOpened+1)
			}
			if after := openFDs(t); after != before {
				t.Errorf("fds after: got %d; want %d", after, before)
			}
		})
	}
}
