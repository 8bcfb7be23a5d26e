package wasi_test

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/wasi"
)

// prioRoot is the repository's root folder.
var prioRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

// prioProgram compiles a guest of the repository into a fresh engine.
func prioProgram(t testing.TB, rel string) *wasi.Program {
	t.Helper()
	ctx := context.Background()
	eng, err := wasi.NewEngine(ctx, wasi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.CompileFile(ctx, filepath.Join(prioRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	p, err := mod.Prepare(wasi.Config{MemoryLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BenchmarkRunShortC is the fast path: a C hello (about 35 us) that ends
// long before a guest's priority would be lowered.
func BenchmarkRunShortC(b *testing.B) {
	p := prioProgram(b, "samples/c/hello.wasm")
	ctx := context.Background()
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := p.Run(ctx, &wasi.Call{Args: []string{"hello"}, Stdout: &out}); err != nil {
			b.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "\n\n") {
		b.Fatalf("output %q; want a CGI header block", out.String())
	}
}
