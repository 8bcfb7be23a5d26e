package logbuf

import (
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flakySink fails while full is set, as a log file on a full disk does
// until someone frees space, and records what it wrote otherwise.
type flakySink struct {
	mu    sync.Mutex
	full  bool
	tries int
	buf   strings.Builder
}

func (s *flakySink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.full {
		return 0, syscall.ENOSPC
	}
	return s.buf.Write(p)
}

// TestSinkRecovers: a write that fails (a full disk, for a moment) loses
// the lines of that write, as a direct write would have; the lines logged
// after the sink works again are written, and Close still reports the
// error. A sticky error silenced the server's log for the rest of its life,
// its error events included.
func TestSinkRecovers(t *testing.T) {
	s := &flakySink{full: true}
	w := New(s, 0)
	w.Write([]byte("lost\n"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		tries := s.tries
		s.mu.Unlock()
		if tries > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sink was not written within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	s.full = false
	s.mu.Unlock()
	for _, l := range []string{"after 1\n", "after 2\n"} {
		if n, err := w.Write([]byte(l)); n != len(l) || err != nil {
			t.Errorf("Write after the sink recovered: got %d, %v; want %d, nil", n, err, len(l))
		}
	}
	if err := w.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close: got %v; want the sink's error %v", err, syscall.ENOSPC)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, want := s.buf.String(), "after 1\nafter 2\n"; got != want {
		t.Errorf("got %q at the sink; want %q", got, want)
	}
}
