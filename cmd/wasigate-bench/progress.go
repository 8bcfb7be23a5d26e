package main

import (
	"fmt"
	"io"
	"time"
)

// progress writes a line per wrk run of a table to the terminal (stderr),
// with how many runs are left and an estimate of the time they take: the
// -wsgi and -reuse tables run for tens of minutes.
type progress struct {
	w           io.Writer
	title       string
	done, total int
	start       time.Time
}

func newProgress(w io.Writer, title string, total int) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, title: title, total: total, start: time.Now()}
}

// step reports one finished run of target name in round (from 1).
func (p *progress) step(name string, round int, l load) {
	p.done++
	left := time.Duration(0)
	if p.done > 0 {
		left = time.Since(p.start) / time.Duration(p.done) * time.Duration(p.total-p.done)
	}
	fmt.Fprintf(p.w, "[%s %d/%d, about %s left] round %d %s: %.0f req/s, CPU/req %s, errors %d\n",
		p.title, p.done, p.total, left.Round(time.Second), round, name, l.reqs, dur(float64(l.cpuPerReq())), l.bad)
}

// note reports a step that is not a run (a start, an application's load).
func (p *progress) note(format string, args ...any) {
	fmt.Fprintf(p.w, "[%s] %s\n", p.title, fmt.Sprintf(format, args...))
}
