package tune

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestTuneGC(t *testing.T) {
	saved := debug.SetGCPercent(100)
	savedLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(saved); debug.SetMemoryLimit(savedLimit) })
	machine := DefaultMemoryLimit()
	tests := []struct {
		name        string
		env         map[string]string
		limit       int64
		wantPercent int
		wantFrom    string
		wantLimit   int64 // the limit in effect afterwards
		wantLimFrom string
	}{
		{"nothing set: the server's defaults", nil, 0, DefaultGOGC, "default", machine, "default"},
		{"GOGC set: the runtime's value stays", map[string]string{"GOGC": "100"}, 0, 100, "GOGC", machine, "default"},
		{"GOGC=off", map[string]string{"GOGC": "off"}, 0, -1, "GOGC", machine, "default"},
		{"memory_limit set", nil, 300 << 20, DefaultGOGC, "default", 300 << 20, "memory_limit"},
		// The runtime applied GOMEMLIMIT=1GiB before main; the
		// configuration's memory_limit does not override it.
		{"GOMEMLIMIT wins over memory_limit", map[string]string{"GOMEMLIMIT": "1GiB"}, 300 << 20, DefaultGOGC, "default", 1 << 30, "GOMEMLIMIT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100) // as the runtime would have set it from GOGC=100
			debug.SetMemoryLimit(math.MaxInt64)
			if tc.env["GOMEMLIMIT"] != "" {
				debug.SetMemoryLimit(1 << 30) // as the runtime would have
			}
			got := GC(func(k string) string { return tc.env[k] }, tc.limit)
			if got.Percent != tc.wantPercent || got.From != tc.wantFrom {
				t.Errorf("GC: got %+v; want percent %d from %q", got, tc.wantPercent, tc.wantFrom)
			}
			if tc.wantFrom == "default" {
				if p := debug.SetGCPercent(100); p != DefaultGOGC {
					t.Errorf("GC percent after GC: got %d; want %d", p, DefaultGOGC)
				}
			}
			if tc.wantLimit == 0 {
				t.Skip("the machine's memory is unknown here")
			}
			if l := debug.SetMemoryLimit(-1); l != tc.wantLimit || got.MemoryLimit != tc.wantLimit || got.LimitFrom != tc.wantLimFrom {
				t.Errorf("memory limit: got %d in effect, %+v reported; want %d from %q", l, got, tc.wantLimit, tc.wantLimFrom)
			}
		})
	}
}

func TestMachineMemory(t *testing.T) {
	m := MachineMemory()
	if m == 0 {
		t.Skip("no physical memory figure on this system")
	}
	if m < 64<<20 || m > 1<<50 {
		t.Errorf("MachineMemory: got %d; want a plausible machine's memory", m)
	}
}

func TestGCSettingsString(t *testing.T) {
	tests := []struct {
		s    GCSettings
		want string
	}{
		{GCSettings{Percent: 100, From: "default"}, "GOGC=100 (default)"},
		{GCSettings{Percent: -1, From: "GOGC", MemoryLimit: 12 << 30, LimitFrom: "default"}, "GOGC=off (GOGC), GOMEMLIMIT=12GiB (default)"},
		{GCSettings{Percent: 100, From: "default", MemoryLimit: 300<<20 + 1, LimitFrom: "memory_limit"}, "GOGC=100 (default), GOMEMLIMIT=314572801B (memory_limit)"},
	}
	for _, tc := range tests {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String: got %q; want %q", got, tc.want)
		}
	}
}

func TestReleaseNow(t *testing.T) {
	tests := []struct {
		name                   string
		interval, sinceRelease uint64
		want                   bool
	}{
		{"idle since the last release", 0, 0, false},
		{"busy: requests still running", 300 << 20, 300 << 20, false},
		{"idle after a burst", 1 << 20, 300 << 20, true},
		{"idle after a trickle", 1 << 20, 10 << 20, false},
	}
	for _, tc := range tests {
		if got := releaseNow(tc.interval, tc.sinceRelease); got != tc.want {
			t.Errorf("%s: got %v; want %v", tc.name, got, tc.want)
		}
	}
}

// TestReleaseWhenIdle: after a burst of garbage and a quiet interval, the
// heap the burst grew is given back to the system.
func TestReleaseWhenIdle(t *testing.T) {
	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ReleaseWhenIdle(ctx, 100*time.Millisecond)
	var keep [][]byte
	for range 64 { // 512 MiB allocated, 64 MiB live at a time
		keep = append(keep, make([]byte, 8<<20))
		if len(keep) > 8 {
			keep = keep[1:]
		}
	}
	keep = nil
	before := released()
	deadline := time.Now().Add(10 * time.Second)
	for released() < before+32<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("released heap: got %d more bytes in 10 s; want the burst's 64 MiB back", released()-before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
