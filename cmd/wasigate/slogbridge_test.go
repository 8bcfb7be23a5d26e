package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
)

// TestSlogInJSONLog: what a package logs through log/slog is one JSON event
// of the server's log, with its level, message and attributes.
func TestSlogInJSONLog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(zerologHandler{log: newLogger(&buf)})
	l.With("route", "/s/*").WithGroup("g").Warn("tracking unavailable", "reason", errors.New("EPERM"))
	l.Info("second")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines; want 2:\n%s", len(lines), buf.Bytes())
	}
	var ev map[string]any
	if err := json.Unmarshal(lines[0], &ev); err != nil {
		t.Fatalf("line %q is not JSON: %v", lines[0], err)
	}
	want := map[string]any{"level": "warn", "message": "tracking unavailable", "route": "/s/*", "g.reason": "EPERM"}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("got %s = %v; want %v (event %s)", k, ev[k], v, lines[0])
		}
	}
	if err := json.Unmarshal(lines[1], &ev); err != nil || ev["level"] != "info" {
		t.Errorf("got second event %s (%v); want level info", lines[1], err)
	}
}
