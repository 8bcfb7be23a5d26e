package snap

import (
	"testing"
	"time"
)

// TestRunningWait: Wait reports the inits still running.
func TestRunningWait(t *testing.T) {
	var r Running
	if !r.Wait(0) {
		t.Errorf("wait with none running: got false; want true")
	}
	r.Add()
	if r.Wait(10 * time.Millisecond) {
		t.Errorf("wait with one running: got true; want false")
	}
	go func() { time.Sleep(10 * time.Millisecond); r.Done() }()
	if !r.Wait(5 * time.Second) {
		t.Errorf("wait after done: got false; want true")
	}
}

// TestTail: a Tail keeps the end of what was written, quoted, and says
// nothing when only blanks were.
func TestTail(t *testing.T) {
	tail := NewTail(8)
	if got := tail.Suffix(); got != "" {
		t.Errorf("nothing written: got %q; want \"\"", got)
	}
	tail.Write([]byte(" \n"))
	if got := tail.Suffix(); got != "" {
		t.Errorf("blanks written: got %q; want \"\"", got)
	}
	tail.Write([]byte("Traceback: long line\n"))
	tail.Write([]byte("Err\"x"))
	if got, want := tail.Suffix(), ` (stderr: "ne\nErr\"x")`; got != want {
		t.Errorf("got %q; want the last 8 bytes, %q", got, want)
	}
}

// TestTailWarmup: the first write starting with WarmupMarker is timed, a
// marker inside another line is not, and a later one moves nothing.
func TestTailWarmup(t *testing.T) {
	tail := NewTail(64)
	tail.Write([]byte("import noise " + WarmupMarker))
	if !tail.Warmup.IsZero() {
		t.Errorf("marker inside a line: got Warmup %s; want none", tail.Warmup)
	}
	before := time.Now()
	tail.Write([]byte(WarmupMarker))
	first := tail.Warmup
	if first.Before(before) || first.After(time.Now()) {
		t.Errorf("marker written: got Warmup %s; want the write's time (after %s)", first, before)
	}
	tail.Write([]byte(WarmupMarker))
	if !tail.Warmup.Equal(first) {
		t.Errorf("second marker: got Warmup %s; want the first's, %s", tail.Warmup, first)
	}
}
