package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records what reaches it and counts write calls; gate, if not nil,
// holds every write until it is closed, as a stuck pipe would.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	gate   chan struct{}
	delay  time.Duration
	err    error
}

func (s *sink) Write(p []byte) (int, error) {
	if s.gate != nil {
		<-s.gate
	}
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.err != nil {
		return 0, s.err
	}
	return s.buf.Write(p)
}

func (s *sink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// line is writer w's n-th event, padded to a length that varies with n so
// that lines straddle batch and bound edges.
func line(w, n, pad int) []byte {
	return []byte(fmt.Sprintf("w%d n%d %s end\n", w, n, strings.Repeat("x", (n*7)%pad)))
}

// checkLines asserts every line of text is whole and each writer's lines
// come in order, and that each writer wrote want lines.
func checkLines(t *testing.T, text string, writers, want, pad int) {
	t.Helper()
	next := make([]int, writers)
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		var w, n int
		if _, err := fmt.Sscanf(l, "w%d n%d", &w, &n); err != nil || w < 0 || w >= writers {
			t.Fatalf("line %q is not whole (%v)", l, err)
		}
		if got, want := l+"\n", string(line(w, n, pad)); got != want {
			t.Fatalf("got line %q; want %q", got, want)
		}
		if n != next[w] {
			t.Fatalf("writer %d: got line %d; want %d (reordered or lost)", w, n, next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != want {
			t.Errorf("writer %d: got %d lines; want %d", w, n, want)
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	tests := []struct {
		name           string
		writers, lines int
		limit, pad     int
		delay          time.Duration
	}{
		{"one writer", 1, 2000, DefaultLimit, 200, 0},
		{"many writers, roomy queue", 16, 1000, DefaultLimit, 300, 0},
		{"many writers, tight queue", 16, 500, 512, 300, 0},
		{"lines longer than the bound", 4, 200, 64, 300, 0},
		{"slow sink", 8, 200, 4096, 100, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{delay: tt.delay}
			w := New(s, tt.limit)
			var wg sync.WaitGroup
			for i := range tt.writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range tt.lines {
						p := line(i, n, tt.pad)
						if got, err := w.Write(p); got != len(p) || err != nil {
							t.Errorf("Write: got %d, %v; want %d, nil", got, err, len(p))
							return
						}
					}
				}()
			}
			waitOrFail(t, &wg, 60*time.Second)
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			checkLines(t, s.text(), tt.writers, tt.lines, tt.pad)
			if total := tt.writers * tt.lines; tt.writers > 1 && s.writes >= total {
				t.Errorf("got %d sink writes for %d lines; want fewer (batched)", s.writes, total)
			}
		})
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("writers still blocked after %v", d)
	}
}

// TestCloseWhileBlocked fills the queue against a stuck sink so that every
// writer blocks, closes, then unsticks the sink: no line is lost.
func TestCloseWhileBlocked(t *testing.T) {
	const writers, lines, pad = 8, 50, 50
	s := &sink{gate: make(chan struct{})}
	w := New(s, 256)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range lines {
				w.Write(line(i, n, pad))
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		waiting := w.waiting
		w.mu.Unlock()
		if waiting == writers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d writers blocked; want %d", waiting, writers)
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	time.Sleep(20 * time.Millisecond)
	close(s.gate)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return within 30s")
	}
	waitOrFail(t, &wg, 30*time.Second)
	// Writers unblocked after the goroutine ended wrote to the sink
	// directly; together, every line is there once and in order.
	checkLines(t, s.text(), writers, lines, pad)
}

// TestBound writes far more than the bound against a slow sink: writers are
// held back and the heap does not grow with what they try to write.
func TestBound(t *testing.T) {
	const limit = 64 << 10
	s := &sink{gate: make(chan struct{})}
	w := New(s, limit)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	p := bytes.Repeat([]byte("y"), 1000)
	p[len(p)-1] = '\n'
	var wg sync.WaitGroup
	var mu sync.Mutex
	written := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10000 { // 80 MB in all
				w.Write(p)
				mu.Lock()
				written += len(p)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	w.mu.Lock()
	queued := len(w.queue)
	w.mu.Unlock()
	mu.Lock()
	accepted := written
	mu.Unlock()
	var during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&during)
	if queued > limit {
		t.Errorf("got %d bytes queued; want at most %d", queued, limit)
	}
	// The stuck sink holds one batch; the queue holds the rest.
	if max := 2*limit + batchSize + len(p); accepted > max {
		t.Errorf("got %d bytes accepted by a stuck sink; want at most %d", accepted, max)
	}
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("heap grew by %d bytes; want under 4 MiB", grew)
	}
	close(s.gate)
	waitOrFail(t, &wg, 60*time.Second)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.text()), 8*10000*len(p); got != want {
		t.Errorf("got %d bytes at the sink; want %d", got, want)
	}
}

// TestFlushWhenIdle: a lone line (the "serving" event a supervisor waits
// for) reaches the sink without Close.
func TestFlushWhenIdle(t *testing.T) {
	s := &sink{}
	w := New(s, 0)
	defer w.Close()
	w.Write([]byte("serving\n"))
	deadline := time.Now().Add(5 * time.Second)
	for s.text() != "serving\n" {
		if time.Now().After(deadline) {
			t.Fatalf("got %q at the sink after 5s; want the line", s.text())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLingerBatches: lines that come one at a time, each finding the queue
// empty (an access-log line per request of a busy server), are written
// about once per linger, not once each; none is lost or cut.
func TestLingerBatches(t *testing.T) {
	s := &sink{}
	w := New(s, 0)
	const n = 300
	start := time.Now()
	for i := range n {
		w.Write(line(0, i, 40))
		// A line every 50 us, spinning: a sleep that short lasts a
		// millisecond on a busy machine.
		for next := time.Now().Add(50 * time.Microsecond); time.Now().Before(next); {
			runtime.Gosched()
		}
	}
	elapsed := time.Since(start)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkLines(t, s.text(), 1, n, 40)
	s.mu.Lock()
	writes := s.writes
	s.mu.Unlock()
	// At most one write per linger, doubled for a flush that found lines
	// queued during the previous one; a slow machine only raises the
	// bound.
	if limit := 2 + 2*int(elapsed/linger); writes > limit {
		t.Errorf("got %d writes for %d lines in %v; want at most %d", writes, n, elapsed, limit)
	}
}

func TestAfterClose(t *testing.T) {
	s := &sink{}
	w := New(s, 0)
	w.Write([]byte("a\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("b\n"))
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got, want := s.text(), "a\nb\n"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestSinkError(t *testing.T) {
	errBroken := errors.New("broken pipe")
	s := &sink{err: errBroken}
	w := New(s, 0)
	for i := range 100 {
		w.Write([]byte(strconv.Itoa(i) + "\n"))
	}
	if err := w.Close(); !errors.Is(err, errBroken) {
		t.Errorf("Close: got %v; want %v", err, errBroken)
	}
}

// BenchmarkWrite is one access-log-sized event per op from parallel
// writers into a sink that discards.
func BenchmarkWrite(b *testing.B) {
	s := &sink{}
	w := New(discard{s}, 0)
	p := bytes.Repeat([]byte("z"), 300)
	p[len(p)-1] = '\n'
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Write(p)
		}
	})
	w.Close()
	b.ReportMetric(float64(s.writes)/float64(b.N), "writes/op")
}

type discard struct{ s *sink }

func (d discard) Write(p []byte) (int, error) {
	d.s.mu.Lock()
	d.s.writes++
	d.s.mu.Unlock()
	return len(p), nil
}
