package wasi

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCacheKeepUsed: a server up for longer than CacheMaxAge uses its
// compiled code all along; its restart must load it from the cache, not
// find it unused and delete it.
func TestCacheKeepUsed(t *testing.T) {
	ctx := context.Background()
	hello, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e, err := NewEngine(ctx, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Compile(ctx, "hello.wasm", hello); err != nil {
		t.Fatal(err)
	}
	// 15 days pass, the module serving requests all along.
	old := time.Now().Add(-CacheMaxAge - 24*time.Hour)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
	e.sealed.keepUsed() // the daily tick
	e.Close(ctx)
	e2, err := NewEngine(ctx, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(ctx)
	m, err := e2.Compile(ctx, "hello.wasm", hello)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Cached {
		t.Errorf("restart after %s of use: compiled again; want loaded from the cache", CacheMaxAge)
	}
}

// TestCachePruneShared: an entry listed by a stale marker and by one in
// use (two compiles at once both record it) is kept.
func TestCachePruneShared(t *testing.T) {
	ctx := context.Background()
	hello, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e, err := NewEngine(ctx, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Compile(ctx, "hello.wasm", hello); err != nil {
		t.Fatal(err)
	}
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
	old := time.Now().Add(-CacheMaxAge - time.Hour)
	os.Chtimes(stale, old, old)
	e2, err := NewEngine(ctx, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(ctx)
	m, err := e2.Compile(ctx, "hello.wasm", hello)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Cached {
		t.Errorf("an entry a stale marker shares with one in use was deleted")
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("stale marker kept")
	}
}
