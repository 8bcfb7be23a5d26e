package main

import (
	"strings"
	"testing"
	"time"
)

func TestProgressStep(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, "WSGI applications, 8 connection(s)", 4)
	p.start = time.Now().Add(-10 * time.Second) // two runs took 10s: 5s each
	p.step("wasigate flask.wsgi", 1, load{reqs: 612.4, requests: 100, cpu: 300 * time.Millisecond})
	p.step("  Apache mod_wsgi daemon", 1, load{reqs: 4000, requests: 1000, cpu: time.Second, bad: 2})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines %q; want 2, one per run", len(lines), b.String())
	}
	for i, want := range []string{
		"[WSGI applications, 8 connection(s) 1/4, about 30s left] round 1 wasigate flask.wsgi: 612 req/s, CPU/req 3ms, errors 0",
		"[WSGI applications, 8 connection(s) 2/4, about 10s left] round 1   Apache mod_wsgi daemon: 4000 req/s, CPU/req 1ms, errors 2",
	} {
		if lines[i] != want {
			t.Errorf("line %d: got %q; want %q", i, lines[i], want)
		}
	}
}
