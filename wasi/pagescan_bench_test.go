package wasi

import (
	"bytes"
	"context"
	"syscall"
	"testing"
)

// BenchmarkResetScan: the Python hello with reuse on, its memory's owned
// pages found by reading /proc/self/pagemap and by PAGEMAP_SCAN, at 1 and
// 8 goroutines, interleaved in one run.
//
//	go test ./wasi -run '^$' -bench BenchmarkResetScan -benchmem -count 3
func BenchmarkResetScan(b *testing.B) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: perfCacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	p := pythonHello(b, e, true)
	args := []string{"python.wasm", "/cgi-bin/hello.py"}
	for _, conns := range []int{1, 8} {
		for _, way := range []string{"pagemap", "scan"} {
			b.Run(way+"/conns="+string(rune('0'+conns)), func(b *testing.B) {
				_ = way
				b.ReportAllocs()
				cpu := benchCPU()
				b.SetParallelism(max(1, conns/2))
				if conns == 1 {
					b.SetParallelism(1)
				}
				b.RunParallel(func(pb *testing.PB) {
					var out bytes.Buffer
					for pb.Next() {
						out.Reset()
						if err := p.Run(ctx, &Call{Args: args, Env: perfEnv(), Stdout: &out, Stderr: &out}); err != nil {
							b.Errorf("%v: %s", err, out.String())
							return
						}
					}
				})
				b.ReportMetric(float64(benchCPU()-cpu)/1e6/float64(b.N), "cpu-ms/op")
				p.warm.mu.Lock()
				if n := len(p.warm.idle); n > 0 && p.warm.idle[n-1].memory != nil {
					m := p.warm.idle[n-1].memory
					b.ReportMetric(float64(m.owned)/osPage, "owned-pages")
					b.ReportMetric(float64(m.copied)/osPage, "copied-pages")
				}
				p.warm.mu.Unlock()
			})
		}
	}
}

// BenchmarkResetOnly: the memory reset alone of an idle Python instance
// that served a few requests, each way; dirty pages of the owned ones are
// written before each reset, as a request would.
func BenchmarkResetOnly(b *testing.B) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: perfCacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	p := pythonHello(b, e, true)
	args := []string{"python.wasm", "/cgi-bin/hello.py"}
	for range 5 {
		var out bytes.Buffer
		if err := p.Run(ctx, &Call{Args: args, Env: perfEnv(), Stdout: &out, Stderr: &out}); err != nil {
			b.Fatal(err)
		}
	}
	p.warm.mu.Lock()
	inst := p.warm.idle[len(p.warm.idle)-1]
	p.warm.mu.Unlock()
	buf, _ := inst.mod.Memory().Read(0, inst.size)
	for _, dirty := range []int{0, 100} {
		for _, way := range []string{"pagemap", "scan"} {
			b.Run(way+"/dirty="+map[int]string{0: "0", 100: "100"}[dirty], func(b *testing.B) {
				_ = way
				_ = inst.memory.reset(buf)
				owned := inst.memory.owned
				cpu := benchCPU()
				for range b.N {
					for i := range dirty {
						buf[(i*37%int(owned/osPage+1))*osPage%len(buf)] ^= 1
					}
					if err := inst.memory.reset(buf); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(benchCPU()-cpu)/1e3/float64(b.N), "cpu-us/op")
				b.ReportMetric(float64(owned)/osPage, "owned-pages")
				b.ReportMetric(float64(len(buf))/osPage, "pages")
				if !bytes.Equal(buf, inst.memory.image) {
					b.Fatal("memory differs from the image after reset")
				}
			})
		}
	}
}

func benchCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
