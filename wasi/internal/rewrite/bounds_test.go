package rewrite

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckBoundsAcceptsGuests: every committed test guest passes the
// check unchanged.
func TestCheckBoundsAcceptsGuests(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(repoDir, "testdata", "guests", "*.wasm"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no guests: %v", err)
	}
	if rb, err := filepath.Glob(filepath.Join(repoDir, "samples", "ruby", "node_modules", "@ruby", "*", "dist", "*.wasm")); err == nil {
		paths = append(paths, rb...)
	}
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckBounds(wasm); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}
