package wasi

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSharedSnapshotCode: two snapshots of one module whose inits left
// different globals, memory contents and memory sizes run one compiled
// module, and each instance still starts from its own snapshot: the
// global, the byte and the page count it prints are its own init's,
// interleaved with the other's, with reuse on and off, taken now and
// loaded from the cache by the next engine.
func TestSharedSnapshotCode(t *testing.T) {
	path := filepath.Join("..", "testdata", "guests", "reactor_shared.wasm")
	for _, reuse := range []bool{false, true} {
		cache := t.TempDir()
		for _, start := range []string{"taken", "loaded from the cache"} {
			t.Run(fmt.Sprintf("reuse=%v/%s", reuse, start), func(t *testing.T) {
				e, err := NewEngine(context.Background(), Options{CacheDir: cache})
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close(context.Background())
				m := compileFile(t, e, path)
				progs := map[string]*Program{}
				// argc 1: the global and the byte are '1', the memory 1+1
				// pages; argc 3: '3', and 1+3 pages.
				for want, args := range map[string][]string{
					"g=1 m=1 p=2": {"drv"},
					"g=3 m=3 p=4": {"drv", "a", "b"},
				} {
					p, err := m.Prepare(Config{MemoryLimit: 16 << 20, InitArgs: args, Reuse: reuse})
					if err != nil {
						t.Fatal(err)
					}
					if s := p.Snapshot(); !s.On || s.Cached != (start != "taken") {
						t.Fatalf("args %q: snapshot %+v; want on, cached %v", args, s, start != "taken")
					}
					progs[want] = p
				}
				a, b := progs["g=1 m=1 p=2"], progs["g=3 m=3 p=4"]
				if a.snap.shared == nil || a.snap.shared != b.snap.shared || a.code != b.code {
					t.Fatalf("compiled modules %p and %p (shared %v); want one, shared", a.code, b.code, a.snap.shared != nil)
				}
				if a.snap.image == b.snap.image || a.snap.image.Size() == b.snap.image.Size() {
					t.Fatalf("images of %d and %d bytes; want two of different sizes", a.snap.image.Size(), b.snap.image.Size())
				}
				for i := range 4 {
					for want, p := range progs {
						var out, stderr bytes.Buffer
						if err := p.Run(context.Background(), &Call{Args: []string{"x"}, Stdout: &out, Stderr: &stderr}); err != nil {
							t.Fatalf("run %d of %q: %v (stderr %q)", i, want, err, stderr.String())
						}
						_, got, _ := strings.Cut(out.String(), "\n\n")
						if got != want+"\n" {
							t.Fatalf("run %d: got %q; want %q", i, got, want+"\n")
						}
					}
				}
				// Closing one keeps the other's code.
				if err := a.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if err := b.Run(context.Background(), &Call{Stdout: &out}); err != nil || !strings.HasSuffix(out.String(), "\n\ng=3 m=3 p=4\n") {
					t.Fatalf("after the other's Close: %q, %v; want g=3 m=3 p=4", out.String(), err)
				}
			})
		}
	}
}
