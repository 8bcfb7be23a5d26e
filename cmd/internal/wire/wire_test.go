package wire

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/router"
)

// TestReuseKeysReachEngine: [server] reuse_idle and reuse_memory, as a
// configuration file sets them, are the engine's bounds on idle
// instances; a configuration without them gives the engine's defaults.
func TestReuseKeysReachEngine(t *testing.T) {
	for _, tt := range []struct {
		name, server string
		idle         time.Duration
		memory       int64
	}{
		{"set", "[server]\nreuse_idle = \"45s\"\nreuse_memory = \"96MiB\"\n", 45 * time.Second, 96 << 20},
		{"defaults", "", seam.DefaultReuseIdle, seam.DefaultReuseMemory},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := router.ParseConfig(strings.NewReader(tt.server+"[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\n"), "/site/wasigate.toml")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			parts, err := New(ctx, Settings{CacheDir: t.TempDir(), Server: cfg.Server.Or(router.DefaultServer), Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer parts.Engine.Close(ctx)
			if idle, memory := parts.Engine.ReuseLimits(); idle != tt.idle || memory != tt.memory {
				t.Errorf("engine's reuse limits: got %s, %d; want %s, %d", idle, memory, tt.idle, tt.memory)
			}
		})
	}
}
