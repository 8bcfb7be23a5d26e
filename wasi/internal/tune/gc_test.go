package tune

import (
	"math"
	"runtime/debug"
	"testing"
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
