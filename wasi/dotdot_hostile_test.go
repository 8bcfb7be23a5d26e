package wasi

import (
	"context"
	"os"
	"path/filepath"
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
