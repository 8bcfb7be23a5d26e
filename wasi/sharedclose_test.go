package wasi

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// TestRetakenModuleCloseKeepsSharedCode: two modules of one interpreter
// (two routes, or a module and its reload) run one shared snapshot
// module (sharedcode.go). Closing the first after its snapshot was
// retaken must give back only its own holds: closing a replaced snapshot
// a second time closed the shared compiled module itself, and wazero then
// refused to instantiate it for the other module ("source module must be
// compiled before instantiation").
func TestRetakenModuleCloseKeepsSharedCode(t *testing.T) {
	lib := t.TempDir()
	writeTestFile(t, filepath.Join(lib, "data.txt"), "one\n")
	events := &retakeLog{}
	e, err := NewEngine(context.Background(), Options{SnapshotMaxAge: 300 * time.Millisecond, Retaken: events.add})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	path := filepath.Join("..", "testdata", "guests", "reactor_driver.wasm")
	prepare := func(m *Module) *Program {
		p, err := m.Prepare(Config{
			Volumes:     []seam.Mount{{Guest: "/lib", Host: lib}, {Guest: "/data", Host: t.TempDir(), Writable: true}},
			MemoryLimit: 16 << 20, InitArgs: []string{"drv"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Snapshot().SharedCode {
			t.Fatalf("snapshot %+v; want one on shared code", p.Snapshot())
		}
		return p
	}
	m1, m2 := compileFile(t, e, path), compileFile(t, e, path)
	p1, p2 := prepare(m1), prepare(m2)
	deadline := time.Now().Add(20 * time.Second)
	for len(events.all()) < 2 && time.Now().Before(deadline) {
		if _, err := runDriver(t, p1, []string{"drv", "/s"}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(events.all()); n < 2 {
		t.Fatalf("%d retakes in 20s; want at least 2", n)
	}
	if err := p1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := runDriver(t, p2, []string{"drv", "/s"}, nil); err != nil {
			t.Fatalf("run %d of the other module after the first closed: %v", i, err)
		}
	}
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Every snapshot closed once: the shared compiled module is let go.
	e.shared.mu.Lock()
	n := len(e.shared.m)
	e.shared.mu.Unlock()
	if n != 0 {
		t.Errorf("after both modules closed %d shared compiled modules are held; want 0", n)
	}
}
