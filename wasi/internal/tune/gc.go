package tune

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
)

// DefaultGOGC is the garbage collector's percentage `wasigate serve` runs
// with when the environment does not set GOGC. It lives beside the
// engine's tuner (tune.go), which raises GOGC above it while guests spin:
// the process's GC settings are decided in this package alone (issue 11).
//
// A server of fresh instances allocates some 20 KiB per request (half of
// it wazero's stack for the call) over a live heap of a few MiB, so with
// Go's default of 100 the collector ran every ~200 requests of the C
// guest, and each cycle's fixed work (scanning the stacks of every
// connection's goroutine, then regrowing the stacks it shrank) cost more
// than the garbage: 7% of the CPU in marking and 4% in stack copying.
// At 400 it runs a quarter as often; through HTTP the server's CPU time
// per request of the C guest fell from 50-53 to 43-45 µs and the GC's
// share of the CPU from 9% to 3% (issue 4, alternating runs of
// `go run ./cmd/wasigate-bench -only "wasigate C" -gogc N`; 800 gained
// nothing more). The price is a heap up to five times the live one
// instead of twice, which GOMEMLIMIT caps.
const DefaultGOGC = 400

// GCSettings is the garbage collector's configuration in effect, for the
// startup log.
type GCSettings struct {
	Percent int    // GOGC; -1 is off
	From    string // "GOGC" (the environment) or "default"
	// MemoryLimit is GOMEMLIMIT in bytes, or 0 for none.
	MemoryLimit int64
}

// GC sets the garbage collector's percentage to DefaultGOGC unless
// getenv("GOGC") is set, in which case the runtime has already applied it.
// A GOMEMLIMIT in the environment is left to the runtime too: it bounds
// the larger heap that DefaultGOGC allows, since the collector then runs
// early whenever the limit comes near.
func GC(getenv func(string) string) GCSettings {
	s := GCSettings{From: "default"}
	if getenv("GOGC") != "" {
		s.From = "GOGC"
		m := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(m)
		s.Percent = int(m[0].Value.Uint64())
		if getenv("GOGC") == "off" {
			s.Percent = -1
		}
	} else {
		debug.SetGCPercent(DefaultGOGC)
		s.Percent = DefaultGOGC
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		s.MemoryLimit = l
	}
	return s
}

// String describes the settings as GOGC=400 (default), GOMEMLIMIT=...
func (s GCSettings) String() string {
	v := "GOGC=" + strconv.Itoa(s.Percent)
	if s.Percent < 0 {
		v = "GOGC=off"
	}
	v += " (" + s.From + ")"
	if s.MemoryLimit > 0 {
		v += ", GOMEMLIMIT=" + strconv.FormatInt(s.MemoryLimit, 10)
	}
	return v
}
