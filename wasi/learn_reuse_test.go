package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// TestPythonLearnedRunsReused: once CPython's learned list holds what a
// script imports, its runs report nothing new and must leave the
// instance resettable, so that it is reused as with a hand-written list.
// The driver's report allocated a 64 KiB buffer at the end of every run,
// which grew the memory: every instance was thrown away, and CherryPy
// served 2.6 times slower learning than with its list.
func TestPythonLearnedRunsReused(t *testing.T) {
	dist := filepath.Join("..", "samples", "python", "dist")
	if _, err := os.Stat(filepath.Join(dist, "python.wasm")); err != nil {
		t.Skip("python not installed: bash samples/python/install.sh")
	}
	scripts := t.TempDir()
	writeTestFile(t, filepath.Join(scripts, "j.py"),
		"import json, decimal, email.message, http.cookies\nprint('Content-Type: text/plain\\n')\nprint('ok', json.dumps([1]))\n")
	events := &retakeLog{}
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{CacheDir: t.TempDir(), Retaken: events.add})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, filepath.Join(dist, "python.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	lib := "/usr/local/lib/python3.11"
	p, err := m.Prepare(Config{
		Volumes:     []seam.Mount{{Guest: lib, Host: filepath.Join(dist, "lib", "python3.11")}, {Guest: "/cgi-bin", Host: scripts}},
		MemoryLimit: 128 << 20, InitArgs: []string{"python.wasm"}, InitEnv: []string{"PYTHONDONTWRITEBYTECODE=1"},
		Reuse: true, Learn: true, LearnRoots: []string{lib},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		var out, errs bytes.Buffer
		if err := p.Run(ctx, &Call{Args: []string{"python.wasm", "/cgi-bin/j.py"}, Stdout: &out, Stderr: &errs}); err != nil || !strings.Contains(out.String(), "ok [1]") {
			t.Fatalf("run: %v, %q %q; want ok [1]", err, out.String(), errs.String())
		}
	}
	run()
	for deadline := time.Now().Add(60 * time.Second); len(events.all()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no learned retake within 60s")
		}
	}
	if ev := events.all()[0]; ev.Err != nil || len(ev.Added) == 0 {
		t.Fatalf("learned retake: %s; want names added", describeRetakes(events.all()))
	}
	run() // moves to the learned snapshot
	reused0, discarded0 := e.Reuses()
	const n = 6
	for range n {
		run()
	}
	reused, discarded := e.Reuses()
	if reused-reused0 < n-1 || discarded != discarded0 {
		t.Errorf("%d runs with everything learned: %d reused an instance, %d instances thrown away; want at least %d reused, none thrown away",
			n, reused-reused0, discarded-discarded0, n-1)
	}
}
