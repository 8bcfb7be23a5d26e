package snap

import (
	"bytes"
	"strconv"
	"sync"
	"time"
)

// Running counts the snapshot inits that have not returned, abandoned
// ones included, so that an engine's close can wait for them. The zero
// value counts none.
type Running struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil when n is 0
}

// Add counts an init that starts.
func (r *Running) Add() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		r.idle = make(chan struct{})
	}
	r.n++
}

// Done counts an init that returned.
func (r *Running) Done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n--
	if r.n == 0 {
		close(r.idle)
		r.idle = nil
	}
}

// Wait reports whether every init has returned within d.
func (r *Running) Wait(d time.Duration) bool {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	if idle == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// Tail keeps the last bytes written to it: the end of an init's stderr,
// for the reason a snapshot was refused. It notes when a write starts with
// WarmupMarker, where an application's import ends and its warm-ups begin.
type Tail struct {
	b   []byte
	max int
	// Warmup is when the first write starting with WarmupMarker came;
	// zero when none did.
	Warmup time.Time
}

// WarmupMarker is the line the WSGI adapter (samples/python/wasigate_wsgi.py)
// writes to stderr, whole and flushed, as its warm-up requests start: the
// init's time and the warm-ups' are reported apart. The guest could write
// it at another moment, but it only ever moves its own application's
// reported times.
const WarmupMarker = "wasigate: warm-up starts\n"

// NewTail keeps the last max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

// Write keeps the last max bytes of what was written, p among them.
func (t *Tail) Write(p []byte) (int, error) {
	if t.Warmup.IsZero() && bytes.HasPrefix(p, []byte(WarmupMarker)) {
		t.Warmup = time.Now()
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// Suffix is what was kept, quoted, for the end of an error message; ""
// when nothing but blanks was written.
func (t *Tail) Suffix() string {
	s := string(bytes.TrimSpace(t.b))
	if s == "" {
		return ""
	}
	return " (stderr: " + strconv.Quote(s) + ")"
}
