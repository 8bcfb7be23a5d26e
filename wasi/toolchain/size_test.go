package toolchain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildOutputTooLarge: a build whose module is over MaxModuleSize is
// refused from the output's size and nothing of it stays in the cache
// folder; the same source builds with a bound it fits.
func TestBuildOutputTooLarge(t *testing.T) {
	if _, err := toolFor(WAT); err != nil {
		if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "big.wat")
	text := `(module (memory 2) (data (i32.const 0) "` + strings.Repeat("x", 100<<10) + `") (func (export "_start")))`
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	b := &Builder{Dir: cache, Trusted: true, MaxModuleSize: 64 << 10}
	_, err := b.Build(context.Background(), src)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || tl.Path != src || tl.Max != 64<<10 || tl.Size <= 100<<10 {
		t.Fatalf("got %v; want a TooLargeError naming %s, over 100 KiB, max 64 KiB", err, src)
	}
	left, _ := filepath.Glob(filepath.Join(cache, BuildsFolder, "*"))
	if len(left) != 0 {
		t.Errorf("the refused build left %v in the cache folder; want nothing", left)
	}

	b = &Builder{Dir: cache, Trusted: true, MaxModuleSize: 128 << 10}
	res, err := b.Build(context.Background(), src)
	if err != nil {
		t.Fatalf("with a 128 KiB bound: %v", err)
	}
	// Kept, then the bound lowered: refused at the next lookup too, and
	// no longer kept.
	b = &Builder{Dir: cache, Trusted: true, MaxModuleSize: 64 << 10}
	if _, err := b.Build(context.Background(), src); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a kept build over a lowered bound: %v; want ErrTooLarge", err)
	}
	if _, err := os.Stat(res.Path); err == nil {
		t.Errorf("the kept build over the lowered bound is still in the cache")
	}
}

// TestReadModuleBound: ReadModule reads a module at the bound and refuses
// one byte more, and refuses what is not a regular file.
func TestReadModuleBound(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(p, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadModule(p, 1000); err != nil || len(b) != 1000 {
		t.Errorf("at the bound: %d bytes, %v; want 1000, nil", len(b), err)
	}
	if _, err := ReadModule(p, 999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over: %v; want ErrTooLarge", err)
	}
	if _, err := ReadModule(dir, 1000); err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("a folder: %v; want a not-a-regular-file error", err)
	}
}
