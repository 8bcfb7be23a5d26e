package wasi

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// The engine's side of guest file systems: roots shared across Prepares,
// and the files cap over the empty root. The file systems themselves have
// their tests in internal/guestfs.

// TestVolumeRootsShared: preparing programs over the same folders again
// (a reload, a rebuilt script) opens no new file descriptors; a folder
// replaced at the same path gets a root of its own.
func TestVolumeRootsShared(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, "hello.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ro, rw := filepath.Join(dir, "ro"), filepath.Join(dir, "rw")
	for _, d := range []string{ro, rw} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Volumes: []seam.Mount{{Guest: "/ro", Host: ro}, {Guest: "/rw", Host: rw, Writable: true}}}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	if _, err := m.Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	before := fds()
	for range 50 {
		if _, err := m.Prepare(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if after := fds(); after > before {
		t.Errorf("50 more Prepares opened %d file descriptors; want 0", after-before)
	}
	first, _ := e.roots.Open(ro)
	if err := os.Rename(ro, ro+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "new.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := e.roots.Open(ro)
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatal("a folder replaced at the same path kept its old root")
	}
	if _, err := second.Stat("new.txt"); err != nil {
		t.Errorf("the new root does not see the new folder: %v", err)
	}
}

// TestEmptyRootFilesCap: the empty root takes no host descriptor, but
// every folder the guest opens in it is an entry in wazero's descriptor
// table, held until the instance ends: a guest opening "/" in a loop
// must meet the files cap like one opening a volume, or one request
// grows the server's heap without a bound (100,000 opens here; the
// deadline is the only limit).
func TestEmptyRootFilesCap(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, filepath.Join("testdata", "root", "openroot.wat"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	const max = 50
	p, err := m.Prepare(Config{Entrypoint: "run", MaxOpenFiles: max, Volumes: []seam.Mount{{Guest: "/v", Host: t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := p.Run(ctx, &Call{Stdout: &out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("guest printed %q", out.String())
	}
	t.Logf("opens of / that succeeded: %d", n)
	if n > max {
		t.Errorf("opens of / that succeeded: got %d; want at most the files cap, %d", n, max)
	}
}
