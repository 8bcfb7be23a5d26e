package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// BenchmarkSnapshot: one request of testdata/guests/reactor.wasm (an init
// that fills a 1 MiB table) with its init run per request (off), from a
// snapshot mapped copy-on-write (mapped), and from a snapshot copied into
// each memory (copy: the default for images up to snapshotCopyMax, and
// the fallback where mapping is impossible); see
// cmd/wasigate/DECISIONS.md#reactors-start-from-a-snapshot-of-their-init.
//
//	go test ./wasi -run '^$' -bench BenchmarkSnapshot -benchmem -count 5
func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	wasm, err := os.ReadFile(filepath.Join("..", "testdata", "guests", "reactor.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"off", "mapped", "copy"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "mapped" {
				defer snap.SetCopyMax(snap.SetCopyMax(0))
			}
			m, err := e.Compile(ctx, "reactor.wasm", wasm)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close(ctx)
			p, err := m.Prepare(Config{Entrypoint: "serve", MemoryLimit: 64 << 20, NoSnapshot: mode == "off"})
			if err != nil {
				b.Fatal(err)
			}
			var out bytes.Buffer
			call := &Call{Env: []string{"REQUEST_METHOD=GET", "QUERY_STRING="}, Stdout: &out}
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := p.Run(ctx, call); err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.HasPrefix(out.Bytes(), []byte("Content-Type: text/plain\n\ncounter=1\n")) {
				b.Fatalf("output %q", out.String())
			}
		})
	}
}
