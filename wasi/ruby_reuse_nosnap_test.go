package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// TestRubyReuseWithoutSnapshot: without a snapshot every Ruby request
// runs ruby-init, which grows the memory past its size at instantiation,
// and a reset cannot shrink a memory: no instance could ever be kept.
// Reuse must then say it is off and why, not claim to be on while every
// request makes and throws away an instance.
func TestRubyReuseWithoutSnapshot(t *testing.T) {
	mod := rubyModule(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "h.rb"), []byte("puts 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog, err := mod.Prepare(Config{Volumes: []seam.Mount{{Guest: "/cgi-bin", Host: dir}}, MemoryLimit: 256 << 20,
		NoSnapshot: true, Reuse: true})
	if err != nil {
		t.Fatal(err)
	}
	r0, _ := mod.engine.Reuses()
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out bytes.Buffer
		err := prog.Run(ctx, &Call{Args: []string{"ruby", "/cgi-bin/h.rb"}, Stdout: &out, Stderr: &out})
		cancel()
		if err != nil || out.String() != "1\n" {
			t.Fatalf("request %d: got %q, %v; want \"1\\n\"", i, out.String(), err)
		}
	}
	r1, _ := mod.engine.Reuses()
	on, why := prog.Reuse()
	if on && r1 == r0 {
		t.Errorf("Reuse() = on (%q) but none of 3 requests ran in a reused instance; want off with a reason", why)
	}
	if !on && why == "" {
		t.Errorf("Reuse() = off with no reason; want one")
	}
}
