package build

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasigate/wasigate/wasi/seal"
)

// TestBuiltModuleTampered: a built module changed in the cache fails its
// signature and is built again, not returned (issue 10).
func TestBuiltModuleTampered(t *testing.T) {
	if _, err := toolFor(WAT); err != nil {
		if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if !DetectSandbox().Available() && os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
		t.Fatalf("no sandbox: %s", DetectSandbox())
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "m.wat")
	if err := os.WriteFile(src, []byte("(module (func (export \"_start\")))\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := seal.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Dir: filepath.Join(dir, "cache"), Key: key, Trusted: true}
	ctx := context.Background()
	first, err := b.Build(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(first.Path)
	if err := os.WriteFile(first.Path, []byte("\x00asm\x01\x00\x00\x00evil"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := b.Build(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(again.Path)
	if again.Cached || !bytes.Equal(got, good) {
		t.Errorf("after tampering: cached %v, %d bytes; want rebuilt, the %d bytes built first", again.Cached, len(got), len(good))
	}
}
