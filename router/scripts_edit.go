package router

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/wasigate/wasigate/host/seam"
)

// An interpreter whose init imported files of the scripts folder (a
// preload found through PYTHONPATH=/cgi-bin) takes its snapshot again on
// the request after one of them changed, and that request waits for it
// (seam.Refresher; the engine stats only the files the init read).

// editedInit is the engine's error for an init that failed after an edit:
// the guest paths of the changed files.
type editedInit interface {
	error
	EditedFiles() []string
}

// errStillRetaking wraps the timeout of a request that waited for its
// interpreter's snapshot, taken again after an edit of a file its init
// read; the retake goes on, up to snapshot_init_timeout. It answers 503
// as a script still building does, with its own words.
var errStillRetaking = errors.New("the interpreter's snapshot is being taken again after an edit")

// refreshInterpreter takes prog's snapshot again when a file its init
// read from the scripts folder changed.
func refreshInterpreter(ctx context.Context, prog seam.Program) error {
	r, ok := prog.(seam.Refresher)
	if !ok {
		return nil
	}
	err := r.Refresh(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", errStillRetaking, err)
	}
	return err
}

// editedNames names the changed files as the configuration does: the
// scripts folder's path, then the file's in it.
func (s *scriptsHandler) editedNames(e editedInit) string {
	var names []string
	for _, f := range e.EditedFiles() {
		if rel, ok := strings.CutPrefix(f, ScriptsGuestDir+"/"); ok {
			f = path.Join(s.rt.Scripts, rel)
		} else if f == ScriptsGuestDir { // the folder, renamed over
			f = s.rt.Scripts
		}
		names = append(names, f)
	}
	return strings.Join(names, ", ")
}
