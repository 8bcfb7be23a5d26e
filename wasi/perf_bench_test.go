package wasi

// Benchmarks of the per-request instantiate path
// (cmd/wasigate/DECISIONS.md#the-per-request-path-is-kept-small), one per guest
// kind, and of the levers tried on it. Run with
//
//	go test ./wasi -run '^$' -bench 'Instantiate|Lever' -benchmem -count 5
//
// Guests built from source (Rust, Go) are built once into a folder under
// the system's temporary folder and reused by later runs.

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
	"github.com/wasigate/wasigate/wasi/internal/snap"
	"github.com/wasigate/wasigate/wasi/toolchain"
	"github.com/wasigate/wasigate/wasi/tune"
)

// repoDir is the repository's root folder.
var repoDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

// perfCacheDir keeps built guests and compiled code between benchmark runs.
var perfCacheDir = filepath.Join(os.TempDir(), "wasigate-perf-bench")

// rustHello is the Rust counterpart of samples/c/hello.c.
const rustHello = `use std::io::Write;
fn main() {
    let qs = std::env::var("QUERY_STRING").unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "Content-Type: text/plain; charset=utf-8\n\nHello from Rust, compiled to WASI\nQUERY_STRING={}\n", qs);
}
`

// perfGuests maps a guest kind to its source or module.
func perfGuest(b *testing.B, kind string) string {
	b.Helper()
	var src string
	switch kind {
	case "wat":
		return filepath.Join(repoDir, "testdata", "guests", "hello.wasm")
	case "c":
		return filepath.Join(repoDir, "samples", "c", "hello.wasm")
	case "rust":
		src = filepath.Join(perfCacheDir, "hello.rs")
		if err := os.MkdirAll(perfCacheDir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(src, []byte(rustHello), 0o644); err != nil {
			b.Fatal(err)
		}
	case "go":
		src = filepath.Join(repoDir, "samples", "scripts", "hello-go.go")
	case "goapp":
		src = filepath.Join(repoDir, "samples", "scripts", "app")
	}
	res, err := (&toolchain.Builder{Trusted: trustedTestBuilds(), Dir: perfCacheDir}).Build(context.Background(), src)
	if err != nil {
		b.Skipf("build %s guest: %v", kind, err)
	}
	return res.Path
}

// perfEnv is a CGI environment of the size a real request gets: about 30
// variables (RFC 3875 section 4.1 plus a browser's headers).
func perfEnv() []string {
	return []string{
		"GATEWAY_INTERFACE=CGI/1.1", "SERVER_SOFTWARE=wasigate/0.1.0", "SERVER_PROTOCOL=HTTP/1.1",
		"REQUEST_METHOD=GET", "REQUEST_URI=/hello?name=x", "QUERY_STRING=name=x",
		"SCRIPT_NAME=/hello", "PATH_INFO=", "SERVER_NAME=127.0.0.1", "SERVER_PORT=8080",
		"REMOTE_ADDR=127.0.0.1", "REMOTE_HOST=127.0.0.1", "REMOTE_PORT=51234",
		"X_MATCHED_ROUTE=/hello", "X_RAW_PATH_INFO=", "X_FULL_URL=http://127.0.0.1:8080/hello?name=x",
		"HTTP_HOST=127.0.0.1:8080", "HTTP_USER_AGENT=Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
		"HTTP_ACCEPT=text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"HTTP_ACCEPT_LANGUAGE=en-GB,en;q=0.5", "HTTP_ACCEPT_ENCODING=gzip, deflate, br",
		"HTTP_CONNECTION=keep-alive", "HTTP_UPGRADE_INSECURE_REQUESTS=1", "HTTP_SEC_FETCH_DEST=document",
		"HTTP_SEC_FETCH_MODE=navigate", "HTTP_SEC_FETCH_SITE=none", "HTTP_SEC_FETCH_USER=?1",
		"HTTP_PRIORITY=u=0, i", "HTTP_COOKIE=session=abc123; theme=dark", "HTTP_DNT=1",
	}
}

// benchEngine creates an engine like NewEngine, with the runtime's
// WithCloseOnContextDone set as asked, and a cache in perfCacheDir.
func benchEngine(b *testing.B, closeOnDone bool) *Engine {
	b.Helper()
	e := newBenchEngine(b, closeOnDone)
	b.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func newBenchEngine(b *testing.B, closeOnDone bool) *Engine {
	b.Helper()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(perfCacheDir, "wazero"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(closeOnDone).WithCompilationCache(cache)
	// Guests keep their priority: measure the guest alone.
	e := &Engine{cacheDir: perfCacheDir, hosts: map[string]bool{}, cache: cache, guard: tune.NewGuard(-1, false)}
	e.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if err := instantiateWASI(ctx, e.rt); err != nil {
		b.Fatal(err)
	}
	e.hosts[wasi_snapshot_preview1.ModuleName] = true
	return e
}

// benchProgram compiles the guest of kind in e and prepares it with the
// default memory limit of a route (128 MiB).
func benchProgram(b *testing.B, e *Engine, kind string) *Program {
	b.Helper()
	path := perfGuest(b, kind)
	m, err := e.CompileFile(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	p, err := m.Prepare(Config{MemoryLimit: 128 << 20})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// runOnce does what host.Handler does around a run: a cancellable context
// with a deadline, the CGI environment, output discarded.
func runOnce(b *testing.B, p *Program, env []string) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ctx, stop := context.WithTimeout(ctx, 10*time.Second)
	err := p.Run(ctx, &Call{Args: []string{"/hello"}, Env: env, Stdout: io.Discard, Stderr: io.Discard})
	stop()
	cancel(nil)
	if err != nil {
		b.Fatal(err)
	}
}

var perfKinds = []string{"wat", "c", "rust", "go", "goapp"}

// BenchmarkInstantiate is instantiate + run + close of each guest kind, as
// one request does it (no HTTP). goapp is samples/scripts/app, a Go
// net/http/cgi + chi application.
func BenchmarkInstantiate(b *testing.B) {
	e := benchEngine(b, true)
	env := perfEnv()
	for _, kind := range perfKinds {
		b.Run(kind, func(b *testing.B) {
			p := benchProgram(b, e, kind)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				runOnce(b, p, env)
			}
		})
	}
}

// BenchmarkInstantiateParallel runs the same on every core at once, which
// is what a loaded server does: it shows contention (the pool's mutex,
// wazero's runtime lock) and the garbage collector's share.
func BenchmarkInstantiateParallel(b *testing.B) {
	e := benchEngine(b, true)
	env := perfEnv()
	for _, kind := range []string{"c", "go"} {
		b.Run(kind, func(b *testing.B) {
			p := benchProgram(b, e, kind)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					runOnce(b, p, env)
				}
			})
		})
	}
}

// BenchmarkLeverPool compares the pooled mmap allocator (internal/snap) with
// wazero's own Go-heap memory that copies on every memory.grow.
func BenchmarkLeverPool(b *testing.B) {
	e := benchEngine(b, true)
	env := perfEnv()
	for _, kind := range []string{"c", "rust", "go"} {
		for _, alloc := range []string{"pool", "wazero"} {
			b.Run(kind+"/"+alloc, func(b *testing.B) {
				p := benchProgram(b, e, kind)
				if alloc == "wazero" {
					q := *p
					q.pool = nil
					p = &q
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					runOnce(b, p, env)
				}
			})
		}
	}
}

// BenchmarkLeverRelease compares the two ways of handing a pooled memory
// back: madvise(MADV_DONTNEED) of the used range, and clearing it in place
// (which keeps the pages mapped, so the next instance takes no page
// faults). releaseClearMax and releaseWarmBudget pick between them.
func BenchmarkLeverRelease(b *testing.B) {
	e := benchEngine(b, true)
	env := perfEnv()
	saved := snap.SetReleaseClearMax(0)
	snap.SetReleaseClearMax(saved)
	b.Cleanup(func() { snap.SetReleaseClearMax(saved) })
	for _, kind := range []string{"c", "rust", "go"} {
		for _, mode := range []struct {
			name string
			max  uint64
		}{{"madvise", 0}, {"clear", 1 << 62}, {"default", saved}} {
			b.Run(kind+"/"+mode.name, func(b *testing.B) {
				snap.SetReleaseClearMax(mode.max)
				p := benchProgram(b, e, kind)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					runOnce(b, p, env)
				}
			})
		}
	}
}

// BenchmarkLeverCloseOnContextDone compares a runtime that stops guests
// when their context is done with one that does not (and so cannot enforce
// a deadline on a looping guest).
func BenchmarkLeverCloseOnContextDone(b *testing.B) {
	env := perfEnv()
	for _, on := range []bool{true, false} {
		e := benchEngine(b, on)
		for _, kind := range []string{"c", "go"} {
			b.Run(kind+"/"+strconv.FormatBool(on), func(b *testing.B) {
				p := benchProgram(b, e, kind)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					runOnce(b, p, env)
				}
			})
		}
	}
}

// BenchmarkLeverEnv measures the cost of handing the environment over.
// withenv is wazero's ModuleConfig.WithEnv per variable, which clones the
// config's key map on every call, so n variables cost n map copies of
// growing size; environ is what Run does instead (environ.go); run is a
// whole run of a guest that ignores its environment.
func BenchmarkLeverEnv(b *testing.B) {
	e := benchEngine(b, true)
	p := benchProgram(b, e, "wat")
	for _, n := range []int{0, 10, 30, 60} {
		env := perfEnv()
		for len(env) < n {
			env = append(env, "HTTP_X_EXTRA_"+strconv.Itoa(len(env))+"=value")
		}
		env = env[:n]
		c := &Call{Env: env, Stdout: io.Discard, Stderr: io.Discard}
		b.Run("withenv/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cfg := p.config(context.Background(), c)
				for _, kv := range c.Env {
					k, v := splitEnv(kv)
					cfg = cfg.WithEnv(k, v)
				}
			}
		})
		b.Run("environ/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				env, err := newEnviron(c.Env)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.WithValue(context.Background(), environKey{}, env)
				_ = p.config(ctx, c)
			}
		})
		b.Run("run/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runOnce(b, p, env)
			}
		})
	}
}

// BenchmarkLeverCompile is loading a compiled module from the on-disk
// cache, as a restart does for each route.
func BenchmarkLeverCompile(b *testing.B) {
	for _, kind := range []string{"c", "go"} {
		b.Run(kind, func(b *testing.B) {
			path := perfGuest(b, kind)
			wasm, err := readModuleFile(path)
			if err != nil {
				b.Fatal(err)
			}
			e := benchEngine(b, true)
			if _, err := e.Compile(context.Background(), path, wasm); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// A fresh runtime each time: the runtime keeps compiled
				// modules in memory, so only a new one reads the file cache.
				b.StopTimer()
				e2 := newBenchEngine(b, true)
				b.StartTimer()
				if _, err := e2.Compile(context.Background(), path, wasm); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				e2.Close(context.Background())
				b.StartTimer()
			}
		})
	}
}

// BenchmarkLeverCoalesce compares instantiating a Go guest with its data
// segments as the linker wrote them (-1) and joined across zero gaps of
// up to N bytes at compile time (internal/rewrite/datamerge.go).
func BenchmarkLeverCoalesce(b *testing.B) {
	e := benchEngine(b, true)
	env := perfEnv()
	saved := coalesceGap
	b.Cleanup(func() { coalesceGap = saved })
	for _, kind := range []string{"go", "goapp"} {
		for _, gap := range []int{-1, 0, 64, 4096, 65536} {
			b.Run(kind+"/gap="+strconv.Itoa(gap), func(b *testing.B) {
				coalesceGap = gap
				p := benchProgram(b, e, kind)
				b.ReportMetric(float64(p.module.SegmentsJoined), "segments")
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					runOnce(b, p, env)
				}
			})
		}
	}
}

// BenchmarkLeverCoalesceRewrite is the rewrite itself, done once per module
// at startup.
func BenchmarkLeverCoalesceRewrite(b *testing.B) {
	wasm, err := os.ReadFile(perfGuest(b, "go"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := rewrite.Coalesce(wasm, coalesceGap); err != nil {
			b.Fatal(err)
		}
	}
}
