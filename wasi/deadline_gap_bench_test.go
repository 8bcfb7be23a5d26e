package wasi

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// BenchmarkTripGap measures how long a guest runs on once its interrupt
// flag is set: from its deadline to the return of its code (guestEnded,
// before the instance is closed). That is at most the longest stretch
// between two trips through Go, plus the watcher setting the flag and the
// unwinding. Each sample stops the guest at a
// random point of its run; a sample where the guest ended first does not
// count. Metrics: worst-us and median-us over the samples.
//
//	go test ./wasi -run '^$' -bench TripGap -benchtime 200x
//
// The interpreters (python.wasm and ruby+stdlib.wasm serving hello, without
// a snapshot so that their start-up, the longest stretch, is interrupted
// too) are measured when installed (samples/python/dist,
// samples/ruby/node_modules).
func BenchmarkTripGap(b *testing.B) {
	type guest struct {
		name   string
		p      func(b *testing.B) *Program
		call   func() *Call
		within time.Duration // the deadline is drawn from [0, within)
	}
	discard := func() *Call { return &Call{Stdout: io.Discard, Stderr: io.Discard} }
	file := func(path string) func(b *testing.B) *Program {
		return func(b *testing.B) *Program {
			e := deadlineEngine(b, DeadlineInstrument)
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
	}
	guests := []guest{
		{"loop", file(guestPath("loop.wasm")), discard, 10 * time.Millisecond},
		{"fib_nomem", file(hostilePath("fib_nomem.wasm")), discard, 10 * time.Millisecond},
		{"start_spin", file(hostilePath("start_spin.wasm")), discard, 10 * time.Millisecond},
		{"fill_loop", file(hostilePath("fill_loop.wasm")), discard, 10 * time.Millisecond},
		{"fill_call", file(hostilePath("fill_call.wasm")), discard, 10 * time.Millisecond},
		{"table_fill", file(hostilePath("table_fill.wasm")), discard, 10 * time.Millisecond},
	}
	dist := filepath.Join(repoDir, "samples", "python", "dist")
	if _, err := os.Stat(filepath.Join(dist, "python.wasm")); err == nil {
		env := []string{"PYTHONDONTWRITEBYTECODE=1"}
		guests = append(guests, guest{"python_hello", func(b *testing.B) *Program {
			e := deadlineEngine(b, DeadlineInstrument)
			m, err := e.CompileFile(context.Background(), filepath.Join(dist, "python.wasm"))
			if err != nil {
				b.Fatal(err)
			}
			p, err := m.Prepare(Config{Volumes: []seam.Mount{
				{Guest: "/usr/local/lib/python3.11", Host: filepath.Join(dist, "lib", "python3.11")},
				{Guest: "/usr/local/lib/python3.11/dist-packages", Host: filepath.Join(dist, "site-packages")},
				{Guest: "/cgi-bin", Host: filepath.Join(repoDir, "samples", "scripts")},
			}, MemoryLimit: 64 << 20, InitArgs: []string{"python.wasm"}, InitEnv: env, NoSnapshot: true})
			if err != nil {
				b.Fatal(err)
			}
			return p
		}, func() *Call {
			return &Call{Args: []string{"python.wasm", "/cgi-bin/hello.py"}, Env: append(perfEnv(), env...), Stdout: io.Discard, Stderr: io.Discard}
		}, 60 * time.Millisecond})
	} else {
		b.Log("python.wasm not installed: not measured (bash samples/python/install.sh)")
	}
	if _, err := os.Stat(rubyModulePath()); err == nil {
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "hello.rb"), []byte("puts \"Content-Type: text/plain\\n\\nhello\"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		guests = append(guests, guest{"ruby_hello", func(b *testing.B) *Program {
			p, err := rubyModule(b).Prepare(Config{Volumes: []seam.Mount{{Guest: "/cgi-bin", Host: dir}}, MemoryLimit: 256 << 20, NoSnapshot: true})
			if err != nil {
				b.Fatal(err)
			}
			return p
		}, func() *Call {
			return &Call{Args: []string{"ruby", "/cgi-bin/hello.rb"}, Env: perfEnv(), Stdout: io.Discard, Stderr: io.Discard}
		}, 400 * time.Millisecond})
	} else {
		b.Log("ruby+stdlib.wasm not installed: not measured (npm install --prefix samples/ruby)")
	}
	for _, g := range guests {
		b.Run(g.name, func(b *testing.B) {
			p := g.p(b)
			var ended time.Time
			guestEnded = func() { ended = time.Now() }
			defer func() { guestEnded = nil }()
			var late []time.Duration
			for b.Loop() {
				d := time.Duration(rand.Int64N(int64(g.within)))
				ctx, cancel := context.WithTimeout(context.Background(), d)
				deadline, _ := ctx.Deadline()
				err := p.Run(ctx, g.call())
				if ctx.Err() != nil && err != nil {
					late = append(late, ended.Sub(deadline))
				}
				cancel()
			}
			if len(late) == 0 {
				b.Skip("the guest always ended before its deadline")
			}
			slices.Sort(late)
			b.ReportMetric(float64(late[len(late)-1].Microseconds()), "worst-us")
			b.ReportMetric(float64(late[len(late)/2].Microseconds()), "median-us")
			b.ReportMetric(float64(len(late)), "samples")
		})
	}
}
