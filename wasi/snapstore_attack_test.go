package wasi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapKeys lists the keys whose KEY.deps the cache folder holds.
func snapKeys(t *testing.T, cache string) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(cache, "snapshots", "*.deps"))
	keys := map[string]bool{}
	for _, f := range files {
		keys[strings.TrimSuffix(filepath.Base(f), ".deps")] = true
	}
	return keys
}

func copyTestFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotStoreSwappedImage: whoever can write the cache folder copies
// another interpreter's stored snapshot (its module, image and their
// signatures, each valid for its bytes) over this one's, keeping this
// one's KEY.deps. The next start must not load the other's state (another
// tenant's init, its volumes and environment): it takes its own again.
func TestSnapshotStoreSwappedImage(t *testing.T) {
	cache, lib1, lib2, data := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(lib1, "data.txt"), "mine\n")
	writeTestFile(t, filepath.Join(lib2, "data.txt"), "theirs\n")
	e, _ := storeDriver(t, cache, lib1, data, 0)
	e.Close(context.Background())
	mine := snapKeys(t, cache)
	e, _ = storeDriver(t, cache, lib2, data, 0)
	e.Close(context.Background())
	var k1, k2 string
	for k := range snapKeys(t, cache) {
		if mine[k] {
			k1 = k
		} else {
			k2 = k
		}
	}
	if k1 == "" || k2 == "" {
		t.Fatalf("stored keys %v after %v; want one per interpreter", snapKeys(t, cache), mine)
	}
	for _, ext := range []string{".wasm", ".img"} {
		copyTestFile(t, filepath.Join(cache, "snapshots", k2+ext), filepath.Join(cache, "snapshots", k1+ext))
		copyTestFile(t, filepath.Join(cache, "snapshots-sig", k2+ext), filepath.Join(cache, "snapshots-sig", k1+ext))
	}
	_, p := storeDriver(t, cache, lib1, data, 0)
	got, err := runDriver(t, p, []string{"drv", "/s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["lib"] != "mine" || p.Snapshot().Cached {
		t.Errorf("after the swap: lib=%q, Cached %v; want lib=mine from an init taken again", got["lib"], p.Snapshot().Cached)
	}
}
