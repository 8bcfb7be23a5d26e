package wasi

import (
	"context"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCloseStopsRetakes: a snapshot retake under way when the engine
// closes is stopped, and Close returns only once it has: nothing writes
// the cache folder afterwards (a server being stopped, or a test removing
// its folder, met a retake still storing its snapshot).
func TestCloseStopsRetakes(t *testing.T) {
	e, m, _ := driverFile(t)
	e.snapAge = 200 * time.Millisecond
	p, err := m.Prepare(driverConfig(t, "a", false))
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		if err := p.Run(context.Background(), &Call{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			t.Fatal(err)
		}
	}
	run()
	time.Sleep(300 * time.Millisecond)
	run() // past the age: starts a retake in the background
	if err := e.Close(context.Background()); err != nil && !strings.Contains(err.Error(), "init") {
		t.Fatal(err)
	}
	before := listTree(t, e.cacheDir)
	time.Sleep(1500 * time.Millisecond)
	if after := listTree(t, e.cacheDir); after != before {
		t.Errorf("the cache folder changed after Close returned:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if e.bg.start() {
		t.Error("background work may still start after Close")
	}
}

// listTree lists the files under dir with their sizes and times.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			b.WriteString(p + " " + info.ModTime().String() + " " + info.Name() + "\n")
		}
		return nil
	})
	return b.String()
}
