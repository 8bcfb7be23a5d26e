package toolchain

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/seal"
)

// TestBuiltModuleTampered: a built module changed in the cache fails its
// signature and is built again, not returned
// (cmd/wasigate/DECISIONS.md#the-cache-is-the-servers-alone-and-signed).
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

// TestSandboxOverhead measures the first build of the C and Go samples
// with and without the sandbox, each with an empty cache (so Go compiles
// its standard library for wasip1 too). Run it with
//
//	WASIGATE_MEASURE=1 go test ./wasi/toolchain -run TestSandboxOverhead -v -count=1
func TestSandboxOverhead(t *testing.T) {
	if os.Getenv("WASIGATE_MEASURE") == "" {
		t.Skip("set WASIGATE_MEASURE=1")
	}
	sb := DetectSandbox()
	if !sb.Available() {
		t.Skip(sb.String())
	}
	plain := Sandbox{Prlimit: sb.Prlimit} // the same limits and environment, no bwrap
	for _, src := range []string{"c/hello.c", "scripts/hello-go.go"} {
		path := filepath.Join("..", "..", "samples", src)
		for round := range 2 {
			for _, c := range []struct {
				name string
				sb   *Sandbox
			}{{"sandboxed", &sb}, {"trusted", &plain}} {
				b := &Builder{Dir: t.TempDir(), Sandbox: c.sb, Trusted: true}
				start := time.Now()
				if _, err := b.Build(context.Background(), path); err != nil {
					t.Fatal(err)
				}
				t.Logf("round %d %s %s: %v", round+1, src, c.name, time.Since(start).Round(time.Millisecond))
			}
		}
	}
}
