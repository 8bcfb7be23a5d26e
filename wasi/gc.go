package wasi

import (
	"context"

	"github.com/wasigate/wasigate/wasi/internal/tune"
)

// DefaultGOGC is the garbage collector's percentage `wasigate serve` runs
// with when the environment does not set GOGC (tune.DefaultGOGC says why).
const DefaultGOGC = tune.DefaultGOGC

// DefaultNiceAfter is how much CPU time a guest uses at normal priority
// when Options.NiceAfter is 0.
const DefaultNiceAfter = tune.DefaultNiceAfter

// GCSettings is the garbage collector's configuration in effect, for the
// startup log.
type GCSettings = tune.GCSettings

// TuneGC sets the process's GC percentage to DefaultGOGC and its soft
// memory limit to a share of the machine's memory, each unless getenv says
// GOGC or GOMEMLIMIT is set; the machinery is in wasi/internal/tune,
// beside the tuner that raises GOGC while guests spin.
func TuneGC(getenv func(string) string) GCSettings { return tune.GC(getenv, 0) }

// TuneGCLimit is TuneGC with the soft memory limit in bytes the
// configuration sets (memory_limit); 0 is the default share.
func TuneGCLimit(getenv func(string) string, limit int64) GCSettings {
	return tune.GC(getenv, limit)
}

// ReleaseWhenIdle gives the heap a burst of requests grew back to the
// system once the process has been idle for tune.IdleInterval, until ctx
// is done (internal/tune/idle.go).
func ReleaseWhenIdle(ctx context.Context) { tune.ReleaseWhenIdle(ctx, tune.IdleInterval) }
