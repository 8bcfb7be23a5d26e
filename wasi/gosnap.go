package wasi

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

// Go guests from a snapshot (issue 12): wasigate builds a Go script or
// module folder as a wasip1 reactor with a generated file
// (toolchain/gomain.go.txt) that exports GoMainExport. The snapshot's init
// is _initialize, the Go runtime's and the packages' init; each request
// calls GoMainExport, which reseeds the runtime's random state from
// random_get, replaces os.Args and the environment with the request's
// (the runtime read both, empty, in the snapshot) and runs main.
//
// The init reads the environment (the runtime copies it at start), which
// a snapshot otherwise refuses; a Go reactor reads it again per request.
//
// Frozen in the snapshot and not put right: what the program's own init
// and package-level variables computed (a seed, a time, an environment
// variable read in init), the hash seeds of maps made in init and the
// runtime's hashkey, time.Local when an init used it, and the runtime's
// settings read from its environment at start (GOGC, GODEBUG,
// GOMAXPROCS, GOTRACEBACK): the request's values of those are ignored.

// GoMainExport is the entry of a Go program built as a reactor.
const GoMainExport = toolchain.GoMainExport

// goReseedExport says whether GoMainExport can reseed the runtime's
// random state with the Go release the program was built with.
const goReseedExport = "wasigate_go_reseed_ok"

// goInitCheck is the last step of a Go reactor's snapshot init: a Go
// release whose random state the generated file cannot reach refuses the
// snapshot (every request then boots the runtime, which seeds itself).
func goInitCheck(ctx context.Context, mod api.Module) error {
	fn := mod.ExportedFunction(goReseedExport)
	if fn == nil {
		return fmt.Errorf("%w: no %s export", ErrNoSnapshot, goReseedExport)
	}
	res, err := fn.Call(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoSnapshot, goReseedExport, err)
	}
	if res[0] != 1 {
		return fmt.Errorf("%w: the Go runtime's random state cannot be reseeded with this Go release (runtime.globalRand changed); requests boot the runtime", ErrNoSnapshot)
	}
	return nil
}
