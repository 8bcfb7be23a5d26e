package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

func reuseProgram(t *testing.T, e *Engine, path string, c Config) *Program {
	t.Helper()
	m, err := e.CompileFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	if c.Entrypoint == "" {
		c.Entrypoint = "run"
	}
	c.Reuse = true
	p, err := m.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runStdin(p *Program, stdin string) (string, error) {
	var out bytes.Buffer
	err := p.Run(context.Background(), &Call{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &out})
	return out.String(), err
}

// TestReuseHostile: a guest tries to leave something for the next request
// of its instance (testdata/reuse/hostile.wat). Each attempt is either
// reset or the instance is thrown away, and the next request sees a fresh
// instance's state: its run counter at 1, one page of memory, the
// unexported global at 0, nothing left read from stdin, stdout working,
// the next file at descriptor 5 (3 is /v, 4 the empty root).
func TestReuseHostile(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "a"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := reuseProgram(t, e, filepath.Join("testdata", "reuse", "hostile.wat"), Config{Volumes: []seam.Mount{{Guest: "/v", Host: vol}}})
	if on, why := p.Reuse(); !on {
		t.Fatalf("reuse off: %s", why)
	}
	const fresh = "1100\n"
	for _, tt := range []struct {
		action, out string
		fails       bool
		kept        bool // the instance is reused after it
	}{
		{"n", fresh, false, true},
		{"s1234", fresh, false, true}, // stdin left read into memory
		{"0", fresh, false, true},     // proc_exit(0) keeps the instance
		{"g", "1110\n", false, false}, // an unexported global changed
		{"G", fresh, false, false},    // the memory grew
		{"c", fresh, false, false},    // stdout closed
		{"r", fresh, false, false},    // stderr renumbered onto stdout
		{"1", fresh, true, false},     // proc_exit(1)
		{"t", fresh, true, false},     // a trap
		{"f", fresh + "5\n", false, false},
	} {
		t.Run(tt.action, func(t *testing.T) {
			// Warm the pool, so that the action runs in a reused instance.
			if out, err := runStdin(p, "n"); out != fresh || err != nil {
				t.Fatalf("warm-up: got %q, %v; want %q", out, err, fresh)
			}
			reused, discarded := e.Reuses()
			out, err := runStdin(p, tt.action)
			if out != tt.out || (err != nil) != tt.fails {
				t.Errorf("action: got %q, %v; want %q, failed %v", out, err, tt.out, tt.fails)
			}
			r2, d2 := e.Reuses()
			if r2 != reused+1 {
				t.Errorf("the action's request did not run in a reused instance (reused %d -> %d)", reused, r2)
			}
			if kept := d2 == discarded; kept != tt.kept {
				t.Errorf("instance kept: got %v; want %v", kept, tt.kept)
			}
			for i := range 2 {
				if out, err := runStdin(p, "n"); out != fresh || err != nil {
					t.Errorf("next request %d: got %q, %v; want %q", i, out, err, fresh)
				}
			}
			if tt.action == "f" {
				if out, _ := runStdin(p, "f"); out != fresh+"5\n" {
					t.Errorf("second open: got %q; want the file at descriptor 5 again", out)
				}
			}
		})
	}
	if out, err := runStdin(p, "n"); out != fresh || err != nil {
		t.Errorf("last request: got %q, %v; want %q", out, err, fresh)
	}
	if n, _ := e.MemoryInUse(); n != 0 || e.MemoryRescued() != 0 {
		t.Errorf("memories in use %d, rescued %d; want 0, 0", n, e.MemoryRescued())
	}
	if p.Idle() != 1 {
		t.Errorf("idle instances: got %d; want 1 (requests ran one at a time)", p.Idle())
	}
}

// TestReuseRefused: a module whose code changes a table is never reused,
// and says why.
func TestReuseRefused(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p := reuseProgram(t, e, filepath.Join("testdata", "reuse", "table.wat"), Config{})
	on, why := p.Reuse()
	if on || !strings.Contains(why, "table.set") {
		t.Errorf("reuse: got %v (%q); want off, naming table.set", on, why)
	}
	if _, err := runStdin(p, ""); err != nil {
		t.Fatal(err)
	}
}

// TestReuseScratchPreopen: what a request does through the scratch
// folder's preopened descriptor itself is not seen by the next request of
// the reused instance (testdata/reuse/scratch.wat): neither the folder's
// listing, which wazero caches on the descriptor: a continued fd_readdir,
// which fails in a fresh instance, must not return the names of files an
// earlier request created there.
func TestReuseScratchPreopen(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p := reuseProgram(t, e, filepath.Join("testdata", "reuse", "scratch.wat"), Config{Scratch: "/tmp"})
	if on, why := p.Reuse(); !on {
		t.Fatalf("reuse off: %s", why)
	}
	for _, tt := range []struct{ name, action, probe, want string }{
		{"listing", "w", "l", "-\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := runStdin(p, tt.probe); out != tt.want || err != nil {
				t.Fatalf("probe before: got %q, %v; want %q", out, err, tt.want)
			}
			// Warm the pool (a request that does nothing), so that the
			// action runs in a reused instance.
			if out, err := runStdin(p, "n"); out != "" || err != nil {
				t.Fatalf("warm-up: got %q, %v; want \"\"", out, err)
			}
			reused, _ := e.Reuses()
			if out, err := runStdin(p, tt.action); out != "ok\n" || err != nil {
				t.Fatalf("action: got %q, %v; want \"ok\\n\"", out, err)
			}
			if r, _ := e.Reuses(); r != reused+1 {
				t.Fatalf("the action did not run in a reused instance (reused %d -> %d)", reused, r)
			}
			// In the same instance, unless the action's ending closed it.
			out, err := runStdin(p, tt.probe)
			if out != tt.want || err != nil {
				t.Errorf("probe in the reused instance: got %q, %v; want %q (a fresh instance's)", out, err, tt.want)
			}
		})
	}
}

// TestReuseUnreadableGlobal: a module with a global the reset cannot read
// whole (testdata/reuse/v128.wat, a v128) is served like any other with
// reuse on: every request gets a fresh instance's answer, none fails
// because its instance could not be made resettable.
func TestReuseUnreadableGlobal(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p := reuseProgram(t, e, filepath.Join("testdata", "reuse", "v128.wat"), Config{})
	for i := range 3 {
		if out, err := runStdin(p, ""); out != "hi 1\n" || err != nil {
			t.Errorf("request %d: got %q, %v; want \"hi 1\\n\"", i+1, out, err)
		}
	}
}
