package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// reuseGuest is a program of the benchmarks and the differential test.
type reuseGuest struct {
	name string
	prog func(tb testing.TB, e *Engine, reuse bool) *Program
	args []string
}

func pythonHello(tb testing.TB, e *Engine, reuse bool) *Program {
	dist := filepath.Join(repoDir, "samples", "python", "dist")
	wasm, err := os.ReadFile(filepath.Join(dist, "python.wasm"))
	if err != nil {
		tb.Skip("python not installed: bash samples/python/install.sh")
	}
	m, err := e.Compile(context.Background(), "python.wasm", wasm)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := m.Prepare(Config{Volumes: []seam.Mount{
		{Guest: "/usr/local/lib/python3.11", Host: filepath.Join(dist, "lib", "python3.11")},
		{Guest: "/usr/local/lib/python3.11/dist-packages", Host: filepath.Join(dist, "site-packages")},
		{Guest: "/cgi-bin", Host: filepath.Join(repoDir, "samples", "scripts")},
	}, MemoryLimit: 64 << 20, Scratch: "/tmp", InitArgs: []string{"python.wasm"},
		InitEnv: []string{"PYTHONDONTWRITEBYTECODE=1"}, Reuse: reuse})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func fileGuest(path func(tb testing.TB) string) func(tb testing.TB, e *Engine, reuse bool) *Program {
	return func(tb testing.TB, e *Engine, reuse bool) *Program {
		m, err := e.CompileFile(context.Background(), path(tb))
		if err != nil {
			tb.Fatal(err)
		}
		p, err := m.Prepare(Config{MemoryLimit: 128 << 20, Reuse: reuse})
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
}

var reuseGuests = []reuseGuest{
	{"wat", fileGuest(func(testing.TB) string { return filepath.Join(repoDir, "testdata", "guests", "hello.wasm") }), []string{"/hello"}},
	{"c", fileGuest(func(testing.TB) string { return filepath.Join(repoDir, "samples", "c", "hello.wasm") }), []string{"/hello"}},
	{"go", fileGuest(func(tb testing.TB) string { return perfGuest(tb.(*testing.B), "go") }), []string{"/hello"}},
	{"python", pythonHello, []string{"python.wasm", "/cgi-bin/hello.py"}},
}

// BenchmarkReuse: one request (instantiate or take an idle instance, run,
// close or reset) with reuse off and on, from 1 and 8 goroutines.
//
//	go test ./wasi -run '^$' -bench BenchmarkReuse -benchmem -count 3
func BenchmarkReuse(b *testing.B) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: perfCacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	for _, g := range reuseGuests {
		if g.name == "wat" {
			continue
		}
		for _, reuse := range []bool{false, true} {
			p := g.prog(b, e, reuse)
			if on, why := p.Reuse(); on != reuse {
				b.Fatalf("%s: reuse %v (%s); want %v", g.name, on, why, reuse)
			}
			mode := map[bool]string{false: "off", true: "on"}[reuse]
			for _, conns := range []int{1, 8} {
				b.Run(g.name+"/"+mode+"/conns="+string(rune('0'+conns)), func(b *testing.B) {
					r0, d0 := e.Reuses()
					b.ReportAllocs()
					b.SetParallelism(max(1, conns/2)) // GOMAXPROCS is 2 here
					if conns == 1 {
						b.SetParallelism(1)
					}
					b.RunParallel(func(pb *testing.PB) {
						var out bytes.Buffer
						for pb.Next() {
							out.Reset()
							if err := p.Run(ctx, &Call{Args: g.args, Env: perfEnv(), Stdout: &out, Stderr: &out}); err != nil {
								b.Errorf("%v: %s", err, out.String())
								return
							}
						}
					})
					r1, d1 := e.Reuses()
					b.ReportMetric(float64(r1-r0)/float64(b.N), "reused/op")
					b.ReportMetric(float64(d1-d0)/float64(b.N), "discarded/op")
				})
			}
		}
	}
}

// TestReuseDifferential: N requests through reused instances answer
// byte for byte what N fresh instances answer, for the WAT, C, Go and
// Python hello samples.
func TestReuseDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go and runs Python")
	}
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: perfCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	for _, g := range reuseGuests {
		if g.name == "go" {
			continue // perfGuest needs a *testing.B; BenchmarkReuse covers Go
		}
		t.Run(g.name, func(t *testing.T) {
			// Fresh instances whatever WASIGATE_TEST_REUSE says.
			forced := reuseForTests
			reuseForTests = false
			fresh := g.prog(t, e, false)
			reuseForTests = forced
			warm := g.prog(t, e, true)
			if on, why := warm.Reuse(); !on {
				t.Fatalf("reuse off: %s", why)
			}
			r0, _ := e.Reuses()
			const n = 5
			for i := range n {
				env := append(perfEnv(), "QUERY_STRING=i="+string(rune('0'+i)))
				var a, b bytes.Buffer
				errA := fresh.Run(ctx, &Call{Args: g.args, Env: env, Stdout: &a, Stderr: &a})
				errB := warm.Run(ctx, &Call{Args: g.args, Env: env, Stdout: &b, Stderr: &b})
				if errA != nil || errB != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
					t.Fatalf("request %d: fresh %v %q; reused %v %q", i, errA, a.String(), errB, b.String())
				}
			}
			if r1, _ := e.Reuses(); r1-r0 != n-1 {
				t.Errorf("requests in a reused instance: got %d; want %d", r1-r0, n-1)
			}
		})
	}
}
