package wasi

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const loopWat = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\n\nok\n")
  (func (export "run") (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 2000000))))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 29))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`

// TestInterruptFlagKept: a reused instance keeps its interrupt flag. A
// request whose context ends at any moment around its run's end must
// never leave the flag raised for the next request of the instance: each
// is followed by one with no deadline, which must succeed.
func TestInterruptFlagKept(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{NiceAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	path := filepath.Join(t.TempDir(), "loop.wat")
	if err := os.WriteFile(path, []byte(loopWat), 0o644); err != nil {
		t.Fatal(err)
	}
	p := reuseProgram(t, e, path, Config{})
	if on, why := p.Reuse(); !on {
		t.Fatalf("reuse off: %s", why)
	}
	_, _ = runStdin(p, "") // warm: the first run compiles and instantiates
	start := time.Now()
	if out, err := runStdin(p, ""); err != nil || out != "Content-Type: text/plain\n\nok\n" {
		t.Fatalf("got %q %v", out, err)
	}
	run := time.Since(start)
	t.Logf("run %v", run)
	bad := 0
	for i := 0; i < 500; i++ {
		c, cancel := context.WithCancel(ctx)
		d := time.Duration(rand.Int64N(int64(run + run/2)))
		tm := time.AfterFunc(d, cancel)
		var out bytes.Buffer
		_ = p.Run(c, &Call{Stdout: &out, Stderr: &out})
		tm.Stop()
		cancel()
		var out2 bytes.Buffer
		if err := p.Run(ctx, &Call{Stdout: &out2, Stderr: &out2}); err != nil || out2.String() != "Content-Type: text/plain\n\nok\n" {
			bad++
			t.Logf("innocent run: %q %v", out2.String(), err)
		}
	}
	r, dsc := e.Reuses()
	t.Logf("reused %d discarded %d", r, dsc)
	if bad > 0 {
		t.Errorf("got %d of 500 runs after a cancelled one failed; want 0", bad)
	}
}
