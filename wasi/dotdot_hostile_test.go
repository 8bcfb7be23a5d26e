package wasi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// TestReuseRootClosed: a request that closes the empty root's preopened
// descriptor (testdata/reuse/rootslot.wat) leaves nothing for the next
// request of its instance: the root is a preopen like the volumes, so the
// instance is not reused, and the next request still finds "/" (ENOENT
// for a file absent there, directly and through a ".." climbing out of
// /v) instead of EBADF.
func TestReuseRootClosed(t *testing.T) {
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
	p := reuseProgram(t, e, filepath.Join("testdata", "reuse", "rootslot.wat"), Config{Volumes: []seam.Mount{{Guest: "/v", Host: vol}}})
	if on, why := p.Reuse(); !on {
		t.Fatalf("reuse off: %s", why)
	}
	const fresh = "44 44\n" // ENOENT twice
	if out, err := runStdin(p, "p"); out != fresh || err != nil {
		t.Fatalf("probe before: got %q, %v; want %q", out, err, fresh)
	}
	reused, discarded := e.Reuses()
	if out, err := runStdin(p, "c"); out != "" || err != nil {
		t.Fatalf("close: got %q, %v; want \"\"", out, err)
	}
	if r, _ := e.Reuses(); r != reused+1 {
		t.Fatalf("the close did not run in a reused instance (reused %d -> %d)", reused, r)
	}
	if _, d := e.Reuses(); d != discarded+1 {
		t.Errorf("discarded: got %d; want %d (the root's descriptor was closed)", d, discarded+1)
	}
	for i := range 2 {
		if out, err := runStdin(p, "p"); out != fresh || err != nil {
			t.Errorf("next request %d: got %q, %v; want %q (a fresh instance's)", i, out, err, fresh)
		}
	}
}

// TestDotDotMountedTwice: two volumes at one guest path (an operator's
// volume at the scripts folder's /cgi-bin, or "/data" and "/data/" as two
// keys) are one preopen for wazero, the later in the earlier's place. A
// path climbing out of a volume is sent to the preopen wazero numbers for
// it: "/data/../cgi-bin/f.txt" is the later /cgi-bin's f.txt, and
// "/cgi-bin/../x" is absent in the empty root (not EBADF from a descriptor
// past the preopens).
func TestDotDotMountedTwice(t *testing.T) {
	top := t.TempDir()
	for name, body := range map[string]string{"shadowed/f.txt": "shadowed f", "cgi/f.txt": "cgi f", "data/g": "data g"} {
		p := filepath.Join(top, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, filepath.Join("..", "testdata", "guests", "fs.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(Config{Volumes: []seam.Mount{
		{Guest: "/cgi-bin", Host: filepath.Join(top, "shadowed")},
		{Guest: "/data", Host: filepath.Join(top, "data")},
		{Guest: "/cgi-bin/", Host: filepath.Join(top, "cgi")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{"/cgi-bin/f.txt", "ok cgi f"},
		{"/data/../cgi-bin/f.txt", "ok cgi f"},
		{"/cgi-bin/../data/g", "ok data g"},
		{"/cgi-bin/../x", "denied (No such file or directory)"},
		{"/data/../../x", "denied (No such file or directory)"},
	}
	paths := make([]string, len(cases))
	for i, c := range cases {
		paths[i] = c.path
	}
	for i, got := range probe(t, p, paths) {
		if want := "read " + cases[i].path + ": " + cases[i].want; got != want {
			t.Errorf("got %q; want %q", got, want)
		}
	}
}

// TestDotDotGuestMemory: a ".." path placed where the rewrite has little
// room (the end of memory, right before the output, a memory that cannot
// grow), or out of bounds, leaves the guest's memory as it was but for
// the call's output, and an out-of-bounds path is EFAULT, not a host
// panic (testdata/dotdot/memory.wat).
func TestDotDotGuestMemory(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, filepath.Join("testdata", "dotdot", "memory.wat"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(Config{Volumes: []seam.Mount{{Guest: "/vvvvvvvv/w", Host: t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := p.Run(ctx, &Call{Stdout: &out}); err != nil {
		t.Fatalf("Run: %v (output %q)", err, out.String())
	}
	// ENOENT twice (the root holds no vvvvvvvv/a), EFAULT twice, and EPERM
	// where no place is left for the rewrite (wazero's answer, as before).
	if want := "44= 44= 21= 21= 63= "; out.String() != want {
		t.Errorf("got %q; want %q", out.String(), want)
	}
}
