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
// for the reason a snapshot was refused.
type Tail struct {
	b   []byte
	max int
}

// NewTail keeps the last max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

// Write keeps the last max bytes of what was written, p among them.
func (t *Tail) Write(p []byte) (int, error) {
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
