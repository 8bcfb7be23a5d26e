package tune

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	saved := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(saved) })
	tests := []struct {
		name        string
		env         map[string]string
		wantPercent int
		wantFrom    string
	}{
		{"no GOGC: the server's default", nil, DefaultGOGC, "default"},
		{"GOGC set: the runtime's value stays", map[string]string{"GOGC": "100"}, 100, "GOGC"},
		{"GOGC=off", map[string]string{"GOGC": "off"}, -1, "GOGC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100) // as the runtime would have set it from GOGC=100
			got := GC(func(k string) string { return tc.env[k] })
			if got.Percent != tc.wantPercent || got.From != tc.wantFrom {
				t.Errorf("GC: got %+v; want percent %d from %q", got, tc.wantPercent, tc.wantFrom)
			}
			if tc.wantFrom == "default" {
				if p := debug.SetGCPercent(100); p != DefaultGOGC {
					t.Errorf("GC percent after GC: got %d; want %d", p, DefaultGOGC)
				}
			}
		})
	}
}
