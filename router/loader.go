package router

import (
	"context"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// Loader turns the modules and scripts a configuration names into what host
// handlers run. Router knows nothing of how: package wasi/cgi implements it
// over wazero, and cmd/wasigate wires the two
// (cmd/wasigate/DECISIONS.md#router-knows-nothing-of-wazero). The types it
// speaks in (seam.RunConfig, seam.Module, seam.Program, seam.Scripts) are
// declared once in host/seam, which both sides import.
type Loader interface {
	// Load builds (for a source) and compiles the module at path.
	Load(ctx context.Context, path string) (seam.Module, error)
	// Scripts returns the scripts of one route, each built when first run
	// and again when it changes. name gives a script's module name for
	// errors; built, if not nil, is told of each successful build and
	// whether the script's instances start from a snapshot, or why not (the
	// zero Snapshot for a program that has no init to snapshot).
	Scripts(c seam.RunConfig, name func(path string) string, built func(path string, cached bool, d time.Duration, snapshot seam.Snapshot)) seam.Scripts
	// SourceKind is the kind of source at path (".go", by its extension
	// or a folder's files), or "" when the loader neither runs nor
	// builds it.
	SourceKind(path string) string
}
