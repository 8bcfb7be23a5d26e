package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// BenchmarkPythonSnapshot: one request of samples/scripts/hello.py and
// wsgi.py in the Python driver (samples/python/driver.c), booting CPython
// per request and from the snapshot taken after its start-up and preloads
// (cmd/wasigate/DECISIONS.md#interpreters-start-from-a-snapshot-of-their-start-up).
// Needs `bash samples/python/install.sh`.
func BenchmarkPythonSnapshot(b *testing.B) {
	dist := filepath.Join("..", "samples", "python", "dist")
	wasm, err := os.ReadFile(filepath.Join(dist, "python.wasm"))
	if err != nil {
		b.Skip("python not installed: bash samples/python/install.sh")
	}
	// The sample site's preload list (samples/wasigate.toml).
	preload := "cgi,wsgiref.handlers,web,flask"
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: filepath.Join(os.TempDir(), "wasigate-bench-python")})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.Compile(ctx, "python.wasm", wasm)
	if err != nil {
		b.Fatal(err)
	}
	env := []string{"PYTHONDONTWRITEBYTECODE=1", "WASIGATE_PRELOAD=" + preload}
	for _, script := range []string{"hello.py", "wsgi.py"} {
		for _, mode := range []string{"off", "on"} {
			b.Run(strings.TrimSuffix(script, ".py")+"/"+mode, func(b *testing.B) {
				p, err := m.Prepare(Config{Volumes: []seam.Mount{
					{Guest: "/usr/local/lib/python3.11", Host: filepath.Join(dist, "lib", "python3.11")},
					{Guest: "/usr/local/lib/python3.11/dist-packages", Host: filepath.Join(dist, "site-packages")},
					{Guest: "/cgi-bin", Host: filepath.Join("..", "samples", "scripts")},
				}, MemoryLimit: 64 << 20, InitArgs: []string{"python.wasm"}, InitEnv: env, NoSnapshot: mode == "off"})
				if err != nil {
					b.Fatal(err)
				}
				if p.Snapshot().On != (mode == "on") {
					b.Fatalf("Snapshot() = %+v", p.Snapshot())
				}
				var out bytes.Buffer
				args := []string{"python.wasm", "/cgi-bin/" + script}
				b.ReportAllocs()
				for b.Loop() {
					out.Reset()
					if err := p.Run(ctx, &Call{Args: args, Env: append(perfEnv(), env...), Stdout: &out, Stderr: &out}); err != nil {
						b.Fatalf("%v: %s", err, out.String())
					}
				}
				if !strings.Contains(out.String(), "Python") && !strings.Contains(out.String(), "WSGI") {
					b.Fatalf("output %q", out.String())
				}
			})
		}
	}
}
