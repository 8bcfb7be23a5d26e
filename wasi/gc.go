package wasi

import "github.com/wasigate/wasigate/wasi/internal/tune"

// DefaultGOGC is the garbage collector's percentage `wasigate serve` runs
// with when the environment does not set GOGC (tune.DefaultGOGC says why).
const DefaultGOGC = tune.DefaultGOGC

// DefaultNiceAfter is how much CPU time a guest uses at normal priority
// when Options.NiceAfter is 0.
const DefaultNiceAfter = tune.DefaultNiceAfter

// GCSettings is the garbage collector's configuration in effect, for the
// startup log.
type GCSettings = tune.GCSettings

// TuneGC sets the process's GC percentage to DefaultGOGC unless getenv
// says GOGC is set; the machinery is in wasi/internal/tune, beside the
// tuner that raises it while guests spin (issue 11).
func TuneGC(getenv func(string) string) GCSettings { return tune.GC(getenv) }
