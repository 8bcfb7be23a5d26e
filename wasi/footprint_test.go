package wasi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// driverFile copies testdata/guests/reactor_driver.wasm into a folder of
// its own (so that a test may change it) and loads it from there, as the
// server loads a module, with a compilation cache.
func driverFile(t *testing.T) (*Engine, *Module, string) {
	t.Helper()
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "driver.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, m, path
}

func driverConfig(t *testing.T, initVar string, noSnapshot bool) Config {
	lib := t.TempDir()
	if err := os.WriteFile(filepath.Join(lib, "data.txt"), []byte("from the lib\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Config{Volumes: []seam.Mount{{Guest: "/lib", Host: lib}}, MemoryLimit: 16 << 20,
		InitArgs: []string{"drv"}, InitEnv: []string{"INIT_VAR=" + initVar}, NoSnapshot: noSnapshot}
}

// TestOneCompiledCopy: once its programs run from snapshots, a module's
// own compiled code and its bytes are released, so that what is served is
// compiled once; a snapshot with other inputs reads the bytes from the
// file again, and a program without a snapshot compiles the module again.
// Every program still answers as it should.
func TestOneCompiledCopy(t *testing.T) {
	e, m, _ := driverFile(t)
	if !m.Loaded() {
		t.Fatal("Loaded before any program: got false; want true")
	}
	if m.snap.wasm != nil {
		t.Errorf("bytes kept after the load: got %d bytes; want none (read again from the file)", len(m.snap.wasm))
	}
	if got := m.CodeSize(); got <= 0 {
		t.Errorf("CodeSize: got %d; want the machine code's size from the cache", got)
	}
	run := func(p *Program, initVar string) {
		t.Helper()
		got, err := runDriver(t, p, []string{"drv", "x"}, []string{"HTTP_X=y"})
		if err != nil {
			t.Fatal(err)
		}
		if got["counter"] != "1" || got["init-var"] != initVar || got["x"] != "y" {
			t.Errorf("got counter=%q init-var=%q x=%q; want 1, %q, y", got["counter"], got["init-var"], got["x"], initVar)
		}
	}

	a, err := m.Prepare(driverConfig(t, "a", false))
	if err != nil {
		t.Fatal(err)
	}
	if info := a.Snapshot(); !info.On || info.Code <= 0 {
		t.Fatalf("first program: snapshot %+v; want on, with its code size", info)
	}
	if m.Loaded() {
		t.Error("Loaded after a program runs from a snapshot: got true; want false (one compiled copy)")
	}
	run(a, "a")

	// Other init inputs: another snapshot, from the bytes read again.
	b, err := m.Prepare(driverConfig(t, "b", false))
	if err != nil {
		t.Fatal(err)
	}
	if info := b.Snapshot(); !info.On {
		t.Fatalf("second snapshot: %+v; want on", info)
	}
	run(b, "b")

	// No snapshot: the module's own code again, from the file cache.
	c, err := m.Prepare(driverConfig(t, "c", true))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Loaded() {
		t.Error("Loaded with a program running the module itself: got false; want true")
	}
	got, err := runDriver(t, c, []string{"drv", "x"}, []string{"HTTP_X=y", "INIT_VAR=req"})
	if err != nil || got["counter"] != "1" || got["init-var"] != "req" {
		t.Errorf("program without snapshot: got %v, %v; want counter 1, init-var req", got, err)
	}
	// A snapshot program now leaves the module's code to the one that runs it.
	d, err := m.Prepare(driverConfig(t, "a", false))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Loaded() {
		t.Error("Loaded after another snapshot program: got false; want true (the program without snapshot runs it)")
	}
	run(d, "a")
	if got, err := runDriver(t, c, []string{"drv"}, []string{"INIT_VAR=req"}); err != nil || got["init-var"] != "req" {
		t.Errorf("program without snapshot, again: got %v, %v; want init-var req", got, err)
	}
	if n, _ := e.MemoryInUse(); n != 0 {
		t.Errorf("memories in use: got %d; want 0", n)
	}
}

// TestSnapshotModuleChanged: a module whose file changed since it was
// loaded is not snapshotted from the new bytes: the snapshot is refused,
// naming the file, and the program runs the module as loaded.
func TestSnapshotModuleChanged(t *testing.T) {
	_, m, path := driverFile(t)
	other, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "reactor.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, other, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(driverConfig(t, "a", false))
	if err != nil {
		t.Fatal(err)
	}
	info := p.Snapshot()
	if info.On || !strings.Contains(info.Reason, ErrModuleChanged.Error()) || !strings.Contains(info.Reason, path) {
		t.Errorf("snapshot: got %+v; want refused because %s changed", info, path)
	}
	if _, err := m.snapBytes(); !errors.Is(err, ErrModuleChanged) {
		t.Errorf("snapBytes: got %v; want ErrModuleChanged", err)
	}
	got, err := runDriver(t, p, []string{"drv"}, []string{"INIT_VAR=req"})
	if err != nil || got["counter"] != "1" || got["init-var"] != "req" {
		t.Errorf("run: got %v, %v; want the module as loaded (counter 1, init-var req)", got, err)
	}
}
