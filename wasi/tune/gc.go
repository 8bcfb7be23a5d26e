package tune

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
)

// DefaultGOGC is the garbage collector's percentage `wasigate serve` runs
// with when the environment does not set GOGC. The server once ran with
// 400, which let the heap grow to five times the live one, and the
// runtime keeps what the heap grew to: the sample site sat at 1.3 GB RSS
// idle and 2.0 GB under 8 connections of Python. With its live heap down
// to about 80 MiB (one compiled copy of each module), the same load
// measured (GODEBUG=gctrace=1, server CPU of the collector per request of
// Python hello / C hello): 100: 121 / 2.1 us, peak RSS 440 MB; 200: 70 /
// 1.9 us, 525 MB; 400: 25 / 0.5 us, 700 MB; against 3.5-4 ms / 60-85 us
// of CPU per request. 200 keeps the collector under 2% of a Python
// request and the peak under 600 MB. The soft memory limit caps the heap
// whatever the percentage; the tuner (tune.go) still raises it while
// lowered guests spin.
const DefaultGOGC = 200

// GCSettings is the garbage collector's configuration in effect, for the
// startup log.
type GCSettings struct {
	Percent int    // GOGC; -1 is off
	From    string // "GOGC" (the environment) or "default"
	// MemoryLimit is the soft memory limit in bytes, or 0 for none, and
	// LimitFrom where it comes from: "GOMEMLIMIT" (the environment),
	// "memory_limit" (the configuration) or "default" (a share of the
	// machine's memory, DefaultMemoryShare).
	MemoryLimit int64
	LimitFrom   string
}

// GC sets the garbage collector's percentage to DefaultGOGC and its soft
// memory limit to limit (0: the machine's memory divided by
// DefaultMemoryShare), each unless the environment sets it (GOGC,
// GOMEMLIMIT), in which case the runtime has already applied it and the
// operator's choice wins. It is called once, at start: changing either
// setting costs a stop of the world.
func GC(getenv func(string) string, limit int64) GCSettings {
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
	switch {
	case getenv("GOMEMLIMIT") != "":
		s.LimitFrom = "GOMEMLIMIT"
	case limit > 0:
		s.LimitFrom = "memory_limit"
		debug.SetMemoryLimit(limit)
	default:
		if l := DefaultMemoryLimit(); l > 0 {
			s.LimitFrom = "default"
			debug.SetMemoryLimit(l)
		}
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		s.MemoryLimit = l
	}
	return s
}

// String describes the settings as "GOGC=100 (default), GOMEMLIMIT=12GiB
// (default)".
func (s GCSettings) String() string {
	v := "GOGC=" + strconv.Itoa(s.Percent)
	if s.Percent < 0 {
		v = "GOGC=off"
	}
	v += " (" + s.From + ")"
	if s.MemoryLimit > 0 {
		v += ", GOMEMLIMIT=" + sizeText(s.MemoryLimit) + " (" + s.LimitFrom + ")"
	}
	return v
}

// sizeText writes n in GOMEMLIMIT's syntax, in the largest unit that
// divides it.
func sizeText(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
