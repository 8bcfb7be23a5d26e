package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// stderrRun writes chunks to a fresh stderrLog as a guest would and returns
// the logged lines (of every event), the Info it reported to and the whole
// log. Chunks come one burst apart unless together is set.
func stderrRun(chunks []string, withInfo bool) (lines []string, info *Info, log string) {
	lines, _, info, log = stderrEvents(chunks, withInfo, false)
	return lines, info, log
}

// stderrEvents is stderrRun that also returns the events' texts; with
// together, every chunk comes within one burst.
func stderrEvents(chunks []string, withInfo, together bool) (lines, events []string, info *Info, log string) {
	var buf bytes.Buffer
	r := httptest.NewRequest("GET", "/x", nil)
	ctx := zerolog.New(&buf).WithContext(r.Context())
	if withInfo {
		ctx, info = WithInfo(ctx)
	}
	r = r.WithContext(ctx)
	now := time.Unix(0, 0)
	s := &stderrLog{log: &requestLog{h: &Handler{Route: "/x", Module: "m.wasm"}, r: r}, info: infoIn(ctx),
		clock: func() time.Time { return now }}
	for _, c := range chunks {
		if !together {
			now = now.Add(stderrBurstGap)
		}
		_, _ = s.Write([]byte(c))
	}
	s.flush()
	for _, ev := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e struct {
			Stderr *string `json:"stderr"`
			Lines  int     `json:"lines"`
		}
		if json.Unmarshal([]byte(ev), &e) != nil || e.Stderr == nil {
			continue
		}
		events = append(events, *e.Stderr)
		got := strings.Split(*e.Stderr, "\n")
		if len(got) != e.Lines {
			panic(fmt.Sprintf("event %q says lines %d; has %d", *e.Stderr, e.Lines, len(got)))
		}
		lines = append(lines, got...)
	}
	return lines, events, info, buf.String()
}

func TestStderrLimits(t *testing.T) {
	many := strings.Repeat("x\n", maxStderrLines+5)
	long := strings.Repeat("y", maxStderrLine+10) + "\n"
	big := strings.Repeat(strings.Repeat("z", 1000)+"\n", 70) // 70,070 bytes
	cases := []struct {
		name          string
		chunks        []string
		lines         int // events
		first         string
		droppedLines  int
		droppedBytes  int
		lastLineBytes int // length of the last event's text, 0: not checked
	}{
		{name: "plain lines", chunks: []string{"a\nb\n"}, lines: 2, first: "a"},
		{name: "split writes", chunks: []string{"he", "llo\nwor", "ld"}, lines: 2, first: "hello"},
		{name: "CRLF", chunks: []string{"a\r\n"}, lines: 1, first: "a"},
		{name: "bare newlines dropped", chunks: []string{"\n\n\n", "a\n", "\n"}, lines: 1, first: "a", droppedLines: 4, droppedBytes: 4},
		{name: "blank CRLF and spaces dropped", chunks: []string{"\r\n", "  \t\n"}, droppedLines: 2, droppedBytes: 6},
		{name: "line cap", chunks: []string{many}, lines: maxStderrLines, first: "x", droppedLines: 5, droppedBytes: 10},
		{name: "line cap, last line unended", chunks: []string{many, "tail"}, lines: maxStderrLines, droppedLines: 6, droppedBytes: 14},
		{name: "long line cut", chunks: []string{long}, lines: 1, droppedBytes: 10, lastLineBytes: maxStderrLine},
		{name: "byte cap", chunks: []string{big}, lines: 66, droppedLines: 4, droppedBytes: 70*1001 - maxStderrBytes - 66, lastLineBytes: maxStderrBytes - 65*1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, info, _ := stderrRun(c.chunks, true)
			if len(lines) != c.lines {
				t.Fatalf("%d events; want %d", len(lines), c.lines)
			}
			if c.first != "" && lines[0] != c.first {
				t.Errorf("first event %q; want %q", lines[0], c.first)
			}
			if c.lastLineBytes != 0 && len(lines[len(lines)-1]) != c.lastLineBytes {
				t.Errorf("last event of %d bytes; want %d", len(lines[len(lines)-1]), c.lastLineBytes)
			}
			if info.StderrDroppedLines != c.droppedLines || info.StderrDroppedBytes != c.droppedBytes {
				t.Errorf("dropped %d lines, %d bytes; want %d, %d", info.StderrDroppedLines, info.StderrDroppedBytes, c.droppedLines, c.droppedBytes)
			}
		})
	}
}

// TestStderrNewlineFlood: 8 MiB of bare newlines (7.3 million events under
// a byte cap alone) make no event at all, however they are written.
func TestStderrNewlineFlood(t *testing.T) {
	flood := strings.Repeat("\n", 64<<10)
	cases := []struct {
		first  string
		events int
		drop   int // lines and bytes: one newline each
	}{
		{"", 0, 8 << 20},
		{"one line first\n", 1, 8 << 20},
		{"a partial line", 1, 8<<20 - 1}, // the first newline ends it
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("after %q", c.first), func(t *testing.T) {
			chunks := []string{c.first}
			for range 128 {
				chunks = append(chunks, flood)
			}
			lines, info, _ := stderrRun(chunks, true)
			if len(lines) != c.events {
				t.Errorf("%d events; want %d", len(lines), c.events)
			}
			if info.StderrDroppedBytes != c.drop || info.StderrDroppedLines != c.drop {
				t.Errorf("dropped %d lines, %d bytes; want %d of each", info.StderrDroppedLines, info.StderrDroppedBytes, c.drop)
			}
		})
	}
}

// TestStderrDropsWithoutInfo: a Handler served without the router's access
// log reports what it dropped in one event of its own.
func TestStderrDropsWithoutInfo(t *testing.T) {
	_, _, log := stderrRun([]string{"\n\n"}, false)
	if n := strings.Count(log, "\n"); n != 1 || !strings.Contains(log, `"stderr_dropped_lines":2`) || !strings.Contains(log, `"route":"/x"`) {
		t.Errorf("log %q; want one event with stderr_dropped_lines 2 and the route", log)
	}
}

// TestStderrBursts: lines written together are one event, a pause starts
// the next, and an event holds at most maxStderrEvent bytes.
func TestStderrBursts(t *testing.T) {
	trace := "Traceback (most recent call last):\n  File \"/cgi-bin/boom.py\", line 1\nValueError: x\n"
	line := strings.Repeat("w", 1000) + "\n"
	cases := []struct {
		name     string
		chunks   []string
		together bool
		events   []int // lines of each event
	}{
		{name: "a traceback line by line", chunks: strings.SplitAfter(trace, "\n"), together: true, events: []int{3}},
		{name: "two bursts", chunks: []string{"a\nb\n", "c\n"}, events: []int{2, 1}},
		{name: "a burst over the event cap", chunks: []string{strings.Repeat(line, 40)}, together: true, events: []int{16, 16, 8}},
		{name: "blank lines are no event", chunks: []string{"\n\n", "a\n"}, events: []int{1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, events, _, _ := stderrEvents(c.chunks, true, c.together)
			var got []int
			for _, e := range events {
				got = append(got, strings.Count(e, "\n")+1)
				if len(e) > maxStderrEvent {
					t.Errorf("event of %d bytes; want at most %d", len(e), maxStderrEvent)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.events) {
				t.Errorf("events of %v lines; want %v", got, c.events)
			}
		})
	}
	lines, events, _, _ := stderrEvents(strings.SplitAfter(trace, "\n"), true, true)
	if len(events) != 1 || events[0] != strings.TrimSuffix(trace, "\n") || len(lines) != 3 {
		t.Errorf("events %q; want the traceback as one", events)
	}
}
