package seam

import (
	"fmt"
	"time"
)

// Snapshot says whether a program's instances start from a snapshot of
// its init, or why not, for the startup log and `wasigate check`. The
// zero value is a program with no init to snapshot.
type Snapshot struct {
	On       bool          // instances start from the snapshot
	Cached   bool          // loaded from the cache folder, not taken now
	InitTime time.Duration // how long the init ran when the snapshot was taken
	Image    uint64        // bytes of linear memory in the image
	Mapped   bool          // mapped copy-on-write; false: copied per instance
	// Off: the configuration turned snapshots off (RunConfig.NoSnapshot);
	// Reason says so too.
	Off    bool
	Reason string // why not, when not On ("" when not asked for)
	// Code is the bytes of machine code of the snapshot's module, from
	// its compilation cache entry; 0 when unknown.
	Code int64
	// SharedCode: Code is one compiled module that every snapshot of the
	// module runs (the interpreter's and each application's), held once.
	SharedCode bool
	// InitErr is set when an interpreter's own init (ruby-init and its
	// requires, a driver's wasigate_init and its preloads) failed: every
	// request would fail the same way, so the server refuses to start.
	InitErr error
	// WarmupTime is how long an application's warm-up requests ran, at
	// the end of its init and not counted in InitTime; 0 without any.
	WarmupTime time.Duration
}

// Refused reports whether the program has an init to snapshot but its
// instances run it in every request for Reason, though the configuration
// asked for a snapshot: worth a warning.
func (s Snapshot) Refused() bool { return !s.On && !s.Off && s.Reason != "" }

// String is the one-line summary of s: how the snapshot is made and held,
// or why there is none; "" for a program with no init to snapshot.
func (s Snapshot) String() string {
	switch {
	case s.On:
		how := "mapped copy-on-write"
		if !s.Mapped {
			how = "copied per instance"
		}
		from := fmt.Sprintf("init %s", s.InitTime.Round(time.Microsecond))
		if s.WarmupTime > 0 {
			from += fmt.Sprintf(", warm-up %s", s.WarmupTime.Round(time.Microsecond))
		}
		if s.Cached {
			from = "loaded from the cache"
		}
		code := ""
		if s.Code > 0 {
			code = fmt.Sprintf(", %.1f MiB machine code", float64(s.Code)/(1<<20))
			if s.SharedCode {
				code += " shared by the module's snapshots"
			}
		}
		return fmt.Sprintf("snapshot: %d KiB image %s%s, %s", s.Image>>10, how, code, from)
	case s.Reason != "":
		return s.Reason
	}
	return ""
}
