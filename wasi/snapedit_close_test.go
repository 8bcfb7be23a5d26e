package wasi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEditRefreshAfterClose: an edit seen once the engine is closing
// takes no snapshot (Close waits for the background's retakes, and what
// starts after it would run an init on a closed runtime and write the
// cache folder); the request gets an error at once.
func TestEditRefreshAfterClose(t *testing.T) {
	dir, files := watchedHelper(t)
	e := &Engine{bg: newBackground()}
	e.bg.close()
	// No module: a retake started anyway would fail on it.
	src := &snapSrc{e: e, watch: []string{"/cgi-bin"}, curWatch: files}
	if err := os.WriteFile(filepath.Join(dir, "helper.py"), []byte("VALUE = 22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := src.refresh(ctx, nil)
	if !errors.Is(err, errEngineClosing) {
		t.Fatalf("refresh after an edit, the engine closed: %v; want errEngineClosing", err)
	}
}
