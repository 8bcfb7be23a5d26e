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
	err := src.refresh(ctx, nil, nil)
	if !errors.Is(err, errEngineClosing) {
		t.Fatalf("refresh after an edit, the engine closed: %v; want errEngineClosing", err)
	}
}

// TestEditFailureRetried: a failed retake for an edit answers its error
// without another init while recent, and is tried again, no file having
// changed, once editRetry has passed (its failure may not be the file's:
// an init stopped at its timeout on a loaded host).
func TestEditFailureRetried(t *testing.T) {
	_, files := watchedHelper(t)
	e := &Engine{bg: newBackground()}
	e.bg.close() // a retake tried again ends at once, errEngineClosing
	failed := errors.New("init stopped at snapshot_init_timeout")
	src := &snapSrc{e: e, watch: []string{"/cgi-bin"}, curWatch: files,
		editFail: &editFailure{files: files, err: failed, edited: []string{"/cgi-bin/helper.py"}, at: time.Now()}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := src.refresh(ctx, nil, nil); !errors.Is(err, failed) {
		t.Fatalf("refresh just after a failed retake: %v; want its error", err)
	}
	src.editFail.at = time.Now().Add(-editRetry)
	if err := src.refresh(ctx, nil, nil); !errors.Is(err, errEngineClosing) {
		t.Fatalf("refresh %v after a failed retake, nothing changed: %v; want a retake tried again", editRetry, err)
	}
}
