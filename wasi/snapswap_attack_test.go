package wasi

import (
	"context"
	"github.com/wasigate/wasigate/host/seam"
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

// TestSwapThroughParentLinkNotFollowed: the same through a link renamed
// into the place of the watched folder's parent (mv site old; ln -s
// /srv/other-tenant/site site): the path's last part is a real folder,
// but not one the route resolved and checked.
func TestSwapThroughParentLinkNotFollowed(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	base, other := t.TempDir(), t.TempDir()
	lib := filepath.Join(base, "site", "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(lib, "data.txt"), "v0\n")
	if err := os.MkdirAll(filepath.Join(other, "site", "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(other, "site", "lib", "data.txt"), "secret\n")
	p, err := m.Prepare(Config{
		Volumes:     []seam.Mount{{Guest: "/lib", Host: lib}},
		MemoryLimit: 16 << 20, InitArgs: []string{"drv"},
		WatchInit: []string{"/lib"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(base, "site"), filepath.Join(base, "site.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, "site"), filepath.Join(base, "site")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(editInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got, err := runDriver(t, p, []string{"drv", "/s"}, nil); err != nil || got["lib"] == "secret" {
		t.Errorf("after a link was renamed into the folder's parent: lib=%q, %v; want the folder it had (v0), not the link's target's", got["lib"], err)
	}
}
