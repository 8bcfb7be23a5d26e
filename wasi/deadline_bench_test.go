package wasi

// Benchmarks of the deadline mechanisms
// (cmd/wasigate/DECISIONS.md#guests-are-stopped-by-compiled-checks), side
// by side: "none"
// (no check at all: a runtime without WithCloseOnContextDone running the
// module as it is; a looping guest would never stop), "wazero" (its
// WithCloseOnContextDone) and "instrument" (the check compiled into the
// module, the default). Interleave runs on a noisy machine:
//
//	for i in 1 2 3 4 5; do go test ./wasi -run '^$' -bench 'Deadline' -benchmem -count 1; done

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

var deadlineModes = []string{"none", DeadlineWazero, DeadlineInstrument}

// modeEngine is an engine stopping guests the way mode says.
func modeEngine(b *testing.B, mode string) *Engine {
	b.Helper()
	e := newBenchEngine(b, mode == DeadlineWazero)
	e.guard.SetNiceAfter(-1) // every guest at normal priority: measure the guest alone
	if mode == DeadlineInstrument {
		e.dl = deadlines{instrument: true}
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// modeProgram compiles path in an engine of mode and prepares it.
func modeProgram(b *testing.B, mode, path string, c Config) *Program {
	b.Helper()
	m, err := modeEngine(b, mode).CompileFile(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	if mode == DeadlineInstrument && m.Deadline != DeadlineInstrument {
		b.Fatalf("%s not instrumented (Deadline %q)", path, m.Deadline)
	}
	p, err := m.Prepare(c)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func runBench(b *testing.B, p *Program, c Call) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		call := c
		if err := p.Run(context.Background(), &call); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeadlineSpin: a C loop of 3x10^8 iterations (spin.wasm).
func BenchmarkDeadlineSpin(b *testing.B) {
	for _, mode := range deadlineModes {
		b.Run(mode, func(b *testing.B) {
			p := modeProgram(b, mode, guestPath("spin.wasm"), Config{})
			runBench(b, p, Call{Stdout: io.Discard, Stderr: io.Discard})
		})
	}
}

// BenchmarkDeadlineGo: Go hello, instantiate and run.
func BenchmarkDeadlineGo(b *testing.B) {
	path := perfGuest(b, "go")
	for _, mode := range deadlineModes {
		b.Run(mode, func(b *testing.B) {
			p := modeProgram(b, mode, path, Config{MemoryLimit: 128 << 20})
			runBench(b, p, Call{Env: perfEnv(), Stdout: io.Discard, Stderr: io.Discard})
		})
	}
}

// BenchmarkDeadlineRuby: the Ruby interpreter's init and an empty script.
func BenchmarkDeadlineRuby(b *testing.B) {
	path := rubyModulePath()
	if _, err := os.Stat(path); err != nil {
		b.Skip("ruby.wasm not installed")
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.rb"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, mode := range deadlineModes {
		b.Run(mode, func(b *testing.B) {
			// NoSnapshot: this measures the checks over ruby-init too.
			p := modeProgram(b, mode, path, Config{Volumes: []seam.Mount{{Guest: "/cgi-bin", Host: dir}}, MemoryLimit: 256 << 20, NoSnapshot: true})
			runBench(b, p, Call{Args: []string{"ruby", "/cgi-bin/empty.rb"}, Env: perfEnv(), Stdout: io.Discard, Stderr: io.Discard})
		})
	}
}

// BenchmarkDeadlineStop: how long after its deadline a guest that never
// ends is stopped (metric stop-us; ns/op includes the 10 ms deadline).
// Only wazero and instrument stop them; wazero never stops fib.
func BenchmarkDeadlineStop(b *testing.B) {
	for _, guest := range []string{"loop.wasm", "fib.wasm"} {
		for _, mode := range deadlineModes[1:] {
			if mode == DeadlineWazero && guest == "fib.wasm" {
				continue
			}
			b.Run(guest+"/"+mode, func(b *testing.B) {
				p := modeProgram(b, mode, guestPath(guest), Config{})
				var late time.Duration
				for b.Loop() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
					deadline, _ := ctx.Deadline()
					if err := p.Run(ctx, &Call{Stdout: io.Discard}); err == nil {
						b.Fatal("guest ended on its own")
					}
					late += time.Since(deadline)
					cancel()
				}
				b.ReportMetric(float64(late.Microseconds())/float64(b.N), "stop-us")
			})
		}
	}
}
