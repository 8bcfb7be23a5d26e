package seam

import (
	"errors"
	"testing"
	"time"
)

// TestSnapshotString: the summary the startup log and `wasigate check`
// print, and which states are worth a warning.
func TestSnapshotString(t *testing.T) {
	for _, tt := range []struct {
		name    string
		s       Snapshot
		want    string
		refused bool
	}{
		{"no init", Snapshot{}, "", false},
		{"taken now, mapped", Snapshot{On: true, Mapped: true, Image: 2 << 20, InitTime: 1500 * time.Microsecond},
			"snapshot: 2048 KiB image mapped copy-on-write, init 1.5ms", false},
		{"an application with warm-ups", Snapshot{On: true, Mapped: true, Image: 40 << 20, InitTime: 310 * time.Millisecond, WarmupTime: 25 * time.Millisecond},
			"snapshot: 40960 KiB image mapped copy-on-write, init 310ms, warm-up 25ms", false},
		{"from the cache, copied, with code", Snapshot{On: true, Cached: true, Image: 64 << 10, Code: 3 << 20},
			"snapshot: 64 KiB image copied per instance, 3.0 MiB machine code, loaded from the cache", false},
		{"code shared by the module's snapshots", Snapshot{On: true, Mapped: true, Image: 16 << 20, Code: 32 << 20, SharedCode: true, InitTime: time.Second},
			"snapshot: 16384 KiB image mapped copy-on-write, 32.0 MiB machine code shared by the module's snapshots, init 1s", false},
		{"turned off", Snapshot{Off: true, Reason: "turned off"}, "turned off", false},
		{"refused", Snapshot{Reason: "no snapshot: imports a clock"}, "no snapshot: imports a clock", true},
		{"init failed", Snapshot{Reason: "preload failed", InitErr: errors.New("preload failed")}, "preload failed", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
			if got := tt.s.Refused(); got != tt.refused {
				t.Errorf("Refused() = %v; want %v", got, tt.refused)
			}
		})
	}
}

// TestKindString: each kind names itself in messages.
func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindOther: "other", KindCommand: "command", KindDriver: "driver", KindRuby: "ruby", 99: "other"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q; want %q", k, got, want)
		}
	}
}
