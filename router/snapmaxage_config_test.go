package router

import (
	"strings"
	"testing"
	"time"
)

// TestSnapshotMaxAgeKey: [server] snapshot_max_age defaults to 24h, takes
// a duration of at least 1s, and a wrong one fails naming the file, the
// section and the key.
func TestSnapshotMaxAgeKey(t *testing.T) {
	tests := []struct {
		name, text string
		want       time.Duration
		err        string // "" means valid
	}{
		{name: "default", want: 24 * time.Hour},
		{name: "set", text: "[server]\nsnapshot_max_age = \"2h\"\n", want: 2 * time.Hour},
		{name: "short for tests", text: "[server]\nsnapshot_max_age = \"1s\"\n", want: time.Second},
		{name: "below 1s", text: "[server]\nsnapshot_max_age = \"10ms\"\n", err: `/site/wasigate.toml: [server]: snapshot_max_age 10ms: want at least 1s`},
		{name: "negative", text: "[server]\nsnapshot_max_age = \"-1h\"\n", err: `"server.snapshot_max_age"): negative duration "-1h"`},
		{name: "not a duration", text: "[server]\nsnapshot_max_age = \"daily\"\n", err: `invalid duration "daily"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tt.text+"[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\n"), "/site/wasigate.toml")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got error %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(cfg.Server.Or(DefaultServer).SnapshotMaxAge); got != tt.want {
				t.Errorf("snapshot_max_age = %s; want %s", got, tt.want)
			}
		})
	}
}
