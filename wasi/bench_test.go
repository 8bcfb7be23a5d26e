package wasi_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// repoRoot is the repository's root folder.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

var (
	benchOnce   sync.Once
	benchEngine *wasi.Engine
	benchErr    error
)

// engine is one engine for all benchmarks, as in a server.
func engine(b *testing.B) *wasi.Engine {
	benchOnce.Do(func() {
		benchEngine, benchErr = wasi.NewEngine(context.Background(), wasi.Options{})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchEngine
}

// helloEnv is the environment of a typical small GET.
var helloEnv = []string{
	"GATEWAY_INTERFACE=CGI/1.1", "SERVER_SOFTWARE=wasigate/bench", "SERVER_PROTOCOL=HTTP/1.1",
	"REQUEST_METHOD=GET", "REQUEST_URI=/hello", "QUERY_STRING=", "SCRIPT_NAME=/hello", "PATH_INFO=",
	"SERVER_NAME=127.0.0.1", "SERVER_PORT=8080", "REMOTE_ADDR=127.0.0.1", "REMOTE_HOST=127.0.0.1",
	"REMOTE_PORT=50000", "HTTP_HOST=127.0.0.1:8080", "HTTP_USER_AGENT=bench", "HTTP_ACCEPT=*/*",
}

// benchRun measures one request's work on the wasi side: instantiate a
// fresh instance, run the entrypoint, close it. The module is compiled
// once, before the timer starts.
func benchRun(b *testing.B, wasmPath, wantBody string) {
	eng := engine(b)
	ctx := context.Background()
	mod, err := eng.CompileFile(ctx, wasmPath)
	if err != nil {
		b.Fatal(err)
	}
	prog, err := mod.Prepare(wasi.Config{MemoryLimit: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	if err := prog.Run(ctx, &wasi.Call{Args: []string{"/hello"}, Env: helloEnv, Stdout: &out}); err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(out.String(), wantBody) {
		b.Fatalf("output %q; want it to contain %q", out.String(), wantBody)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out.Reset()
		if err := prog.Run(ctx, &wasi.Call{Args: []string{"/hello"}, Env: helloEnv, Stdout: &out}); err != nil {
			b.Fatal(err)
		}
	}
}

func guestPath(name string) string { return filepath.Join(repoRoot, "testdata", "guests", name) }

func BenchmarkRunWAT(b *testing.B) { benchRun(b, guestPath("hello.wasm"), "hello\n") }

func BenchmarkRunC(b *testing.B) {
	benchRun(b, filepath.Join(repoRoot, "samples", "c", "hello.wasm"), "\n")
}

func BenchmarkRunRust(b *testing.B) { benchRun(b, guestPath("hello_rs.wasm"), "hello\n") }

// BenchmarkRunGo builds samples/scripts/hello-go.go with the local Go
// toolchain (GOOS=wasip1) first.
func BenchmarkRunGo(b *testing.B) {
	dir := filepath.Join(os.TempDir(), "wasigate-bench-builds") // reused between runs
	res, err := (&toolchain.Builder{Dir: dir, Trusted: os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") == "" && !toolchain.DetectSandbox().Available()}).Build(context.Background(), filepath.Join(repoRoot, "samples", "scripts", "hello-go.go"))
	if errors.Is(err, toolchain.ErrToolchain) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, res.Path, "Hello from Go")
}
