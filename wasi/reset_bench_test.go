package wasi

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
)

// BenchmarkResetOnly: the memory reset alone of an idle Python instance
// that served a few requests, with none or 100 pages written before each
// reset: track=false reads /proc/self/pagemap and compares the owned
// pages; track=true compares only the pages the kernel lists as written
// (reset_track.go). PAGEMAP_SCAN asking which pages are file pages in
// place of the pagemap read measured 58 us against 60: that walk looks up
// every page; asking only for the write-protect bit does not.
//
//	go test ./wasi -run '^$' -bench BenchmarkResetOnly -count 3
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
	defer func(old bool) { resetTracking = old }(resetTracking)
	for _, track := range []bool{false, true} {
		resetTracking = track
		inst.memory.untrack()
		inst.memory.canTrack = true
		for _, dirty := range []int{0, 100} {
			b.Run(fmt.Sprintf("track=%v/dirty=%d", track, dirty), func(b *testing.B) {
				_ = inst.memory.reset(buf)
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
