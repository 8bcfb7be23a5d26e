package router

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConfigReuseKeys: [server] reuse_idle and reuse_memory, which bound
// the reused instances, take their defaults, accept a duration and a size
// in units, and a bad value fails naming the file and the key.
func TestConfigReuseKeys(t *testing.T) {
	const route = "\n[[route]]\npath = \"/x\"\nmodule = \"a.wasm\"\n"
	const file = "/etc/wasigate/reuse.toml"
	for _, tt := range []struct {
		name, server string
		idle         time.Duration
		memory       Size
	}{
		{"defaults", "", 30 * time.Second, 512 << 20},
		{"set", "reuse_idle = \"2m\"\nreuse_memory = \"1GiB\"", 2 * time.Minute, 1 << 30},
		{"plain bytes", "reuse_memory = 2097152", 30 * time.Second, 2 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader("[server]\n"+tt.server+"\n"+route), file)
			if err != nil {
				t.Fatal(err)
			}
			s := cfg.Server.Or(DefaultServer)
			if got := time.Duration(s.ReuseIdle); got != tt.idle {
				t.Errorf("reuse_idle: got %s; want %s", got, tt.idle)
			}
			if s.ReuseMemory != tt.memory {
				t.Errorf("reuse_memory: got %d; want %d", s.ReuseMemory, tt.memory)
			}
		})
	}
	for _, tt := range []struct {
		name, server, want string
	}{
		{"idle not a duration", `reuse_idle = "a while"`, "reuse_idle"},
		{"idle negative", `reuse_idle = "-5s"`, "reuse_idle"},
		{"memory not a size", `reuse_memory = "lots"`, "reuse_memory"},
		{"memory negative", `reuse_memory = -1`, "reuse_memory"},
		{"memory too small", `reuse_memory = "64KiB"`, "reuse_memory 65536: want at least 1MiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader("[server]\n"+tt.server+"\n"+route), file)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want an ErrConfig naming %s and %q", err, file, tt.want)
			}
		})
	}
}
