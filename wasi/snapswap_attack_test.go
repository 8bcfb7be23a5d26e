package wasi

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSwapToLinkNotFollowed: the route checked the watched folder it
// mounts (resolved, outside cache_dir) when the site was built. A symbolic
// link renamed into the folder's place later, pointing at a folder the
// configuration never named (cache_dir, /), is not followed: the
// snapshot's init and the requests keep the folder they had, while a
// real folder renamed in is followed.
func TestSwapToLinkNotFollowed(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	tn := newEditTenant(t, m)
	secret := t.TempDir()
	writeTestFile(t, filepath.Join(secret, "data.txt"), "secret\n")
	refresh := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tn.p.Refresh(ctx); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
	}
	if err := os.Rename(tn.lib, tn.lib+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, tn.lib); err != nil {
		t.Fatal(err)
	}
	time.Sleep(editInterval)
	refresh()
	if got, err := runDriver(t, tn.p, []string{"drv", "/s"}, nil); err != nil || got["lib"] == "secret" {
		t.Errorf("after a link to another folder was renamed in: lib=%q, %v; want the folder it had (v0), not the link's target", got["lib"], err)
	}
	if err := os.Remove(tn.lib); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tn.lib, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(tn.lib, "data.txt"), "v1\n")
	time.Sleep(editInterval)
	refresh()
	if got, err := runDriver(t, tn.p, []string{"drv", "/s"}, nil); err != nil || got["lib"] != "v1" {
		t.Errorf("after a folder was renamed in: lib=%q, %v; want v1", got["lib"], err)
	}
}
