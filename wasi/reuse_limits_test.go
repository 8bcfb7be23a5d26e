package wasi

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// hostileWat is the guest of these tests: it reads one action byte from
// stdin, so that a run can be held in fd_read by a pipe.
var hostileWat = filepath.Join("testdata", "reuse", "hostile.wat")

// waitFor polls cond until it holds or d has passed, and reports which.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// TestReuseIdleDropsInstances: an instance left idle for the engine's
// ReuseIdle is closed, its memory no longer counted as idle; an engine
// with the default keeps its one meanwhile.
func TestReuseIdleDropsInstances(t *testing.T) {
	ctx := context.Background()
	const idle = 300 * time.Millisecond
	short, err := NewEngine(ctx, Options{ReuseIdle: idle})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close(ctx)
	long, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close(ctx)
	if got, mem := short.ReuseLimits(); got != idle || mem != seam.DefaultReuseMemory {
		t.Errorf("ReuseLimits: got %s, %d; want %s, %d", got, mem, idle, seam.DefaultReuseMemory)
	}
	if got, mem := long.ReuseLimits(); got != seam.DefaultReuseIdle || mem != seam.DefaultReuseMemory {
		t.Errorf("default ReuseLimits: got %s, %d; want %s, %d", got, mem, seam.DefaultReuseIdle, seam.DefaultReuseMemory)
	}
	kept := reuseProgram(t, long, hostileWat, Config{})
	p := reuseProgram(t, short, hostileWat, Config{})
	for _, q := range []*Program{kept, p} {
		if out, err := runStdin(q, "n"); out != "1100\n" || err != nil {
			t.Fatalf("run: got %q, %v; want %q", out, err, "1100\n")
		}
	}
	ran := time.Now()
	if got := p.Idle(); got != 1 {
		t.Fatalf("idle right after the run: got %d; want 1", got)
	}
	if got := short.pools.Stats().Idle.Load(); got != 64<<10 {
		t.Errorf("idle bytes: got %d; want 65536 (the guest's one page)", got)
	}
	if !waitFor(idle+10*time.Second, func() bool { return p.Idle() == 0 }) {
		t.Fatalf("idle after %s: got %d; want 0", time.Since(ran), p.Idle())
	}
	if waited := time.Since(ran); waited < idle {
		t.Errorf("dropped after %s; want not before reuse_idle (%s)", waited, idle)
	}
	if got := short.pools.Stats().Idle.Load(); got != 0 {
		t.Errorf("idle bytes after the drop: got %d; want 0", got)
	}
	if n, b := short.MemoryInUse(); n != 0 || b != 0 {
		t.Errorf("memory in use after the drop: got %d instances, %d bytes; want none", n, b)
	}
	if got := kept.Idle(); got != 1 {
		t.Errorf("idle with the default reuse_idle: got %d; want 1 (30 s not passed)", got)
	}
	// The program goes on, with a new instance.
	if out, err := runStdin(p, "n"); out != "1100\n" || err != nil {
		t.Errorf("run after the drop: got %q, %v; want %q", out, err, "1100\n")
	}
}

// idleAfterTwo runs two requests of a new program of e at once (the first
// held reading stdin while the second runs) and returns how many
// instances are idle once both ended.
func idleAfterTwo(t *testing.T, e *Engine) int {
	t.Helper()
	p := reuseProgram(t, e, hostileWat, Config{})
	in, feed := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := p.Run(context.Background(), &Call{Stdin: in, Stdout: io.Discard, Stderr: io.Discard})
		done <- err
	}()
	if !waitFor(10*time.Second, func() bool { n, _ := e.MemoryInUse(); return n == 1 }) {
		t.Fatal("the first run did not start within 10s")
	}
	if out, err := runStdin(p, "n"); out != "1100\n" || err != nil {
		t.Fatalf("second run: got %q, %v; want %q", out, err, "1100\n")
	}
	if got := p.Idle(); got != 1 {
		t.Fatalf("idle after the second run: got %d; want 1", got)
	}
	_, _ = feed.Write([]byte("n"))
	feed.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("first run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first run did not end within 10s of its stdin")
	}
	if n, b := e.MemoryInUse(); n != 0 || b != 0 {
		t.Errorf("memory in use: got %d instances, %d bytes; want none", n, b)
	}
	return p.Idle()
}

// TestReuseMemoryBudget: idle instances hold at most the engine's
// ReuseMemory together; an instance that would pass it is closed, not
// kept, and is not counted as discarded (its request ended cleanly).
func TestReuseMemoryBudget(t *testing.T) {
	ctx := context.Background()
	tight, err := NewEngine(ctx, Options{ReuseMemory: 64 << 10}) // one instance's page
	if err != nil {
		t.Fatal(err)
	}
	defer tight.Close(ctx)
	if got := idleAfterTwo(t, tight); got != 1 {
		t.Errorf("idle within a one-instance budget: got %d; want 1", got)
	}
	if got := tight.pools.Stats().Idle.Load(); got != 64<<10 {
		t.Errorf("idle bytes: got %d; want 65536, the budget", got)
	}
	if _, discarded := tight.Reuses(); discarded != 0 {
		t.Errorf("discarded: got %d; want 0", discarded)
	}
	roomy, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer roomy.Close(ctx)
	if got := idleAfterTwo(t, roomy); got != 2 {
		t.Errorf("idle within the default budget: got %d; want 2", got)
	}
}

// TestCodeReleasedAfterLastProgram: the module's own compiled code is
// released when the last program running it closes (it is compiled again
// from its file for a later one), and not while another still runs it.
// A module that could not be compiled again keeps it.
func TestCodeReleasedAfterLastProgram(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, hostileWat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	prepare := func() *Program {
		t.Helper()
		p, err := m.Prepare(Config{Entrypoint: "run", Reuse: true})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := runStdin(p, "n"); out != "1100\n" || err != nil {
			t.Fatalf("run: got %q, %v; want %q", out, err, "1100\n")
		}
		return p
	}
	a, b := prepare(), prepare()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !m.Loaded() {
		t.Fatal("Loaded with one program still running the module: got false; want true")
	}
	if got := a.Idle(); got != 0 {
		t.Errorf("idle instances of a closed program: got %d; want 0", got)
	}
	if out, err := runStdin(b, "n"); out != "1100\n" || err != nil {
		t.Errorf("the other program: got %q, %v; want %q", out, err, "1100\n")
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_ = b.Close(ctx) // twice: nothing more
	if m.Loaded() {
		t.Error("Loaded after the last program closed: got true; want false (released)")
	}
	if got := e.pools.Stats().Idle.Load(); got != 0 {
		t.Errorf("idle bytes after every program closed: got %d; want 0", got)
	}
	if _, err := runStdin(b, "n"); err == nil {
		t.Error("run of a closed program: got no error; want one")
	}
	c := prepare()
	if !m.Loaded() {
		t.Error("Loaded with a new program: got false; want true (compiled again)")
	}
	_ = c.Close(ctx)

	// Compiled from bytes alone: nothing to compile it again from.
	wasm, err := readModuleFile(hostileWat)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := e.Compile(ctx, "hostile", wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close(ctx)
	p, err := mem.Prepare(Config{Entrypoint: "run"})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close(ctx)
	if !mem.Loaded() {
		t.Error("Loaded after the last program of a module without a file closed: got false; want true")
	}
	q, err := mem.Prepare(Config{Entrypoint: "run"})
	if err != nil {
		t.Fatalf("a program after that: %v", err)
	}
	if out, err := runStdin(q, "n"); out != "1100\n" || err != nil {
		t.Errorf("run: got %q, %v; want %q", out, err, "1100\n")
	}
}
