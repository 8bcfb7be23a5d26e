package router

import (
	"errors"
	"strings"
	"testing"
)

// TestConfigServerZeroDuration: a [server] duration written as "0s" was
// taken as left out (reuse_idle = "0s" kept idle instances 30 s); each is
// now refused at parse (and so at `wasigate check` and start-up), naming
// the file, the key and its default, and for reuse_idle how to keep no
// idle instance. A key left out still takes its default.
func TestConfigServerZeroDuration(t *testing.T) {
	const route = "\n[[route]]\npath = \"/x\"\nmodule = \"a.wasm\"\n"
	const file = "/etc/wasigate/zero.toml"
	for _, tt := range []struct{ key, want string }{
		{"reuse_idle", "reuse = false"},
		{"read_header_timeout", "default, 10s"},
		{"idle_timeout", "default, 2m0s"},
		{"shutdown_grace", "default, 30s"},
		{"read_timeout", "read_timeout"},
		{"write_timeout", "write_timeout"},
		{"build_timeout", "build_timeout"},
		{"snapshot_init_timeout", "snapshot_init_timeout"},
		{"snapshot_max_age", "default, 24h0m0s"},
		{"cache_max_age", "cache_max_age"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			for _, zero := range []string{`"0s"`, `"0"`, `"0ms"`} {
				_, err := ParseConfig(strings.NewReader("[server]\n"+tt.key+" = "+zero+"\n"+route), file)
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), file) ||
					!strings.Contains(err.Error(), tt.key+` = "0s"`) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s = %s: got %v; want an ErrConfig naming %s, the key and %q", tt.key, zero, err, file, tt.want)
				}
			}
		})
	}
	cfg, err := ParseConfig(strings.NewReader("[server]\nreuse_idle = \"1s\"\n"+route), file)
	if err != nil {
		t.Fatalf("reuse_idle = \"1s\": %v", err)
	}
	if got := cfg.Server.Or(DefaultServer).ReuseIdle; got != Duration(1e9) {
		t.Errorf("reuse_idle = \"1s\": got %v; want 1s", got)
	}
	if _, err := ParseConfig(strings.NewReader("[server]\n"+route), file); err != nil {
		t.Errorf("no [server] keys: %v; want the defaults", err)
	}
}
