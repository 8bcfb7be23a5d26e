package wasi

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSnapshotInitBounded: a snapshot's init that outlives
// snapshot_init_timeout whatever the deadline checks do (here plain
// recursion under wazero's own check, which only looks at loops) does not
// hold the load up past the timeout and initGrace: the program is
// prepared without a snapshot, with a reason that names the key to raise,
// and the engine's Close waits for the abandoned init.
func TestSnapshotInitBounded(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("needs wat2wasm (apt-get install wabt)")
	}
	dir := t.TempDir()
	wasm := filepath.Join(dir, "fibinit.wasm")
	if out, err := exec.Command("wat2wasm", "-o", wasm, filepath.Join("testdata", "slowinit", "fibinit.wat")).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, out)
	}
	ctx := context.Background()
	const timeout = 50 * time.Millisecond
	e, err := NewEngine(ctx, Options{Deadline: DeadlineWazero, SnapshotInitTimeout: timeout, NiceAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	m := compileFile(t, e, wasm)

	// Calibrate: the init must outlive the bound for the test to mean
	// anything; on a machine fast enough to finish it within the bound,
	// there is nothing to abandon.
	start := time.Now()
	p, err := m.Prepare(Config{Entrypoint: "serve", MemoryLimit: 1 << 20})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > timeout+initGrace+500*time.Millisecond {
		t.Errorf("Prepare took %s; want at most snapshot_init_timeout %s + %s", took, timeout, initGrace)
	}
	info := p.Snapshot()
	if info.On {
		t.Skipf("the init (fib(40)) ended within %s here: nothing was abandoned", took)
	}
	if !strings.Contains(info.Reason, "snapshot_init_timeout") {
		t.Errorf("reason: got %q; want one naming snapshot_init_timeout", info.Reason)
	}
	if !e.inits.Wait(initCloseWait + 10*time.Second) {
		t.Fatalf("the abandoned init did not end")
	}
}
