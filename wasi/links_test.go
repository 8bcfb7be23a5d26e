package wasi

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// TestWritableVolumeLinkTrick: a guest tries "A -> ." then
// "L -> A/A/A/A/A/A/../../../../../.." in a writable volume (once the
// second resolved to the host's "/"). Both are refused, and every link
// left in the volume resolves, on the host, inside it.
func TestWritableVolumeLinkTrick(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	vol := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	p := holdProgram(t, e, Config{Volumes: []seam.Mount{{Guest: "/data", Host: vol, Writable: true}}})
	var out strings.Builder
	if err := p.Run(ctx, &Call{Args: []string{"holdfiles", "links"}, Env: []string{"FILES=0", "MIB=0"}, Stdout: &out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, want := range []string{"symlink /data/A: denied (Operation not permitted)", "symlink /data/L: denied (Operation not permitted)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("guest: got %q; want a line %q", out.String(), want)
		}
	}
	realVol, err := filepath.EvalSymlinks(vol)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(vol, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		to, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil // dangling: leads nowhere
		}
		if to != realVol && !strings.HasPrefix(to, realVol+string(filepath.Separator)) {
			t.Errorf("link %s resolves to %s, outside the volume", path, to)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
