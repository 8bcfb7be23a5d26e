package wasi

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// TestCacheKeepUsed: a server up for longer than CacheMaxAge uses its
// compiled code all along; its restart must load it from the cache, not
// find it unused and delete it.
func TestCacheKeepUsed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := compileHello(t, dir)
	// 15 days pass, the module serving requests all along.
	old := time.Now().Add(-seam.DefaultCacheMaxAge - 24*time.Hour)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
	e.sealed.keepUsed() // the daily tick
	e.Close(ctx)
	m := compileHello(t, dir).hello
	if !m.Cached {
		t.Errorf("restart after %s of use: compiled again; want loaded from the cache", seam.DefaultCacheMaxAge)
	}
}

// TestCachePruneShared: an entry listed by a stale marker and by one in
// use (two compiles at once both record it) is kept.
func TestCachePruneShared(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := compileHello(t, dir)
	e.Close(ctx)
	markers, _ := filepath.Glob(filepath.Join(dir, "seen", "*"))
	if len(markers) != 1 {
		t.Fatalf("markers %v; want one", markers)
	}
	list, _ := os.ReadFile(markers[0])
	stale := filepath.Join(dir, "seen", "0000stale")
	if err := os.WriteFile(stale, list, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-seam.DefaultCacheMaxAge - time.Hour)
	os.Chtimes(stale, old, old)
	m := compileHello(t, dir).hello
	if !m.Cached {
		t.Errorf("an entry a stale marker shares with one in use was deleted")
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("stale marker kept")
	}
}

// cachedHello is an engine over a cache folder and hello.wasm compiled
// by it.
type cachedHello struct {
	*Engine
	hello *Module
}

// compileHello starts an engine over the cache folder dir and compiles
// hello.wasm; the engine is closed at the test's end (or by the caller).
func compileHello(t *testing.T, dir string) cachedHello {
	t.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(ctx, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	m, err := e.Compile(ctx, "hello.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	return cachedHello{Engine: e, hello: m}
}
