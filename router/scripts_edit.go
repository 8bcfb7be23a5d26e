package router

import (
	"context"
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

// refreshInterpreter takes prog's snapshot again when a file its init
// read from the scripts folder changed.
func refreshInterpreter(ctx context.Context, prog seam.Program) error {
	if r, ok := prog.(seam.Refresher); ok {
		return r.Refresh(ctx)
	}
	return nil
}

// editedNames names the changed files as the configuration does: the
// scripts folder's path, then the file's in it.
func (s *scriptsHandler) editedNames(e editedInit) string {
	var names []string
	for _, f := range e.EditedFiles() {
		if rel, ok := strings.CutPrefix(f, ScriptsGuestDir+"/"); ok {
			f = path.Join(s.rt.Scripts, rel)
		}
		names = append(names, f)
	}
	return strings.Join(names, ", ")
}
