package logbuf

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// callSink records each write call apart, as a file descriptor shared with
// other writers sees them: whatever else writes to the same stderr (net/http's
// log.Printf, a child process) lands between two calls.
type callSink struct {
	mu    sync.Mutex
	calls [][]byte
}

func (s *callSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, bytes.Clone(p))
	return len(p), nil
}

// torn returns the first write call that is not whole lines, or -1.
func (s *callSink) torn() (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.calls {
		if len(c) == 0 || c[len(c)-1] != '\n' || !bytes.HasPrefix(c, []byte("w")) {
			return i, c
		}
	}
	return -1, nil
}

// TestWriteCallsHoldWholeLines: every write call to the sink is whole
// events, never one cut between two calls: another writer of the same
// descriptor (net/http logging a client's bad request to os.Stderr, a
// child process) may write between two calls, and a line cut there is torn
// in the log. A client makes an access-log event longer than the batch
// buffer with a long path (max_header_bytes is 128 KiB); here such lines
// come among a stream of short ones, so that some find lines waiting in
// the batch buffer.
func TestWriteCallsHoldWholeLines(t *testing.T) {
	for _, c := range []struct {
		limit int
		pace  time.Duration
	}{{4 << 10, 0}, {DefaultLimit, 0}, {DefaultLimit, 20 * time.Microsecond}, {DefaultLimit, 100 * time.Microsecond}} {
		limit := c.limit
		s := &callSink{}
		w := New(s, limit)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; !stop.Load(); n++ {
					head := fmt.Sprintf("w%d n%d ", i, n)
					w.Write([]byte(head + strings.Repeat("x", 300+(n*37)%700) + "\n"))
					for next := time.Now().Add(c.pace); time.Now().Before(next); {
						runtime.Gosched()
					}
				}
			}()
		}
		long := []byte("w9 " + strings.Repeat("y", batchSize+5000) + "\n")
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
			w.Write(long)
			if i, _ := s.torn(); i >= 0 {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		stop.Store(true)
		waitOrFail(t, &wg, 30*time.Second)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if i, b := s.torn(); i >= 0 {
			t.Fatalf("limit %d, pace %v: write call %d (%d bytes) is not whole lines: starts %q, ends %q",
				limit, c.pace, i, len(b), b[:min(len(b), 12)], b[max(len(b)-12, 0):])
		}
	}
}
