package wasi

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// TestRetakeForgetsPools: each retake of a driver's snapshot moves its
// program to a new generation with its own pool of reused instances. The
// replaced generation's pool must be forgotten by the module once
// retired: kept in the module's set, it holds the generation's program
// and through it the replaced snapshot (its compiled module, whose machine
// code stays mapped while reachable) for the life of the site, one more
// per retake.
func TestRetakeForgetsPools(t *testing.T) {
	lib, data := t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(lib, "data.txt"), "one\n")
	events := &retakeLog{}
	e, err := NewEngine(context.Background(), Options{SnapshotMaxAge: 300 * time.Millisecond, Retaken: events.add})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	p, err := m.Prepare(Config{
		Volumes:     []seam.Mount{{Guest: "/lib", Host: lib}, {Guest: "/data", Host: data, Writable: true}},
		MemoryLimit: 16 << 20, InitArgs: []string{"drv"}, Reuse: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.fresh == nil || p.warm == nil {
		t.Fatalf("fresh %v, warm %v; want a program following retakes with reuse", p.fresh != nil, p.warm != nil)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(events.all()) < 4 && time.Now().Before(deadline) {
		if _, err := runDriver(t, p, []string{"drv", "/s"}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(events.all()); n < 4 {
		t.Fatalf("%d retakes in 20s; want at least 4", n)
	}
	if _, err := runDriver(t, p, []string{"drv", "/s"}, nil); err != nil {
		t.Fatal(err)
	}
	m.warm.mu.Lock()
	n := len(m.warm.pools)
	m.warm.mu.Unlock()
	// The program's own pool and the current generation's.
	if n > 2 {
		t.Errorf("after %d retakes the module keeps %d pools; want at most 2 (the program's and the current generation's)", len(events.all()), n)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.warm.mu.Lock()
	n = len(m.warm.pools)
	m.warm.mu.Unlock()
	if n != 0 {
		t.Errorf("after Close the module keeps %d pools of the program; want 0", n)
	}
}

// TestCloseKeepsSharedSnapshot: two programs of a driver share its
// interpreter's snapshot and its retakes. Closing one must leave the
// other following them: closing the shared source would stop its retakes
// (its hash secret would never change again) and close the snapshots the
// other still runs from.
func TestCloseKeepsSharedSnapshot(t *testing.T) {
	lib, data := t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(lib, "data.txt"), "one\n")
	events := &retakeLog{}
	e, err := NewEngine(context.Background(), Options{SnapshotMaxAge: 300 * time.Millisecond, Retaken: events.add})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	cfg := Config{
		Volumes:     []seam.Mount{{Guest: "/lib", Host: lib}, {Guest: "/data", Host: data, Writable: true}},
		MemoryLimit: 16 << 20, InitArgs: []string{"drv"}, Reuse: true,
	}
	a, err := m.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.fresh == nil || b.fresh == nil || a.fresh.src != b.fresh.src {
		t.Fatal("want two programs following one shared snapshot")
	}
	if _, err := runDriver(t, a, []string{"drv", "/s"}, nil); err != nil {
		t.Fatal(err)
	}
	// Twice: the second gives back nothing more of the shared snapshot.
	for range 2 {
		if err := a.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	src := b.fresh.src
	src.mu.Lock()
	refs := src.refs[src.cur]
	src.mu.Unlock()
	if refs != 1 {
		t.Errorf("references to the shared snapshot after closing one of two programs: got %d; want 1", refs)
	}
	writeTestFile(t, filepath.Join(lib, "data.txt"), "two\n")
	serveUntil(t, b, "two", 10*time.Second, events)
}

// TestPrepareCloseRace: programs of one module prepared, run and closed
// at once, some from snapshots and some from the module's own code (its
// release and compiling again), while one long-lived program of each kind
// runs throughout and a retake comes: every run answers, with no race
// (go test -race).
func TestPrepareCloseRace(t *testing.T) {
	_, m, _ := driverFile(t)
	m.engine.snapAge = 300 * time.Millisecond
	snapCfg, ownCfg := driverConfig(t, "a", false), driverConfig(t, "a", true)
	snapCfg.Reuse, ownCfg.Reuse = true, true
	var long []*Program
	for _, c := range []Config{snapCfg, ownCfg} {
		p, err := m.Prepare(c)
		if err != nil {
			t.Fatal(err)
		}
		long = append(long, p)
	}
	stop := time.Now().Add(2 * time.Second)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			for time.Now().Before(stop) {
				c := snapCfg
				if i%2 == 1 {
					c = ownCfg
				}
				p, err := m.Prepare(c)
				if err != nil {
					errs <- err
					return
				}
				for _, q := range []*Program{p, long[i%2]} {
					if got, err := runDriver(t, q, []string{"drv", "x"}, nil); err != nil || got["counter"] != "1" {
						errs <- fmt.Errorf("run: counter %q, %v", got["counter"], err)
						return
					}
				}
				if err := p.Close(context.Background()); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// Let a retake still running in the background finish, so that the
	// race covers it whole (Engine.Close would stop it).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		busy := false
		m.snap.keyedMu.Lock()
		for _, r := range m.snap.keyed {
			if r.src != nil {
				r.src.mu.Lock()
				busy = busy || r.src.retaking
				r.src.mu.Unlock()
			}
		}
		m.snap.keyedMu.Unlock()
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a retake still running 20s after the last request")
		}
	}
}
