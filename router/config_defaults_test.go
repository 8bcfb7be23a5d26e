package router

import (
	"testing"
	"time"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// TestDefaultsFromOwners: each default a key documents is the number the
// package that enforces it applies to a zero value, so that the reference
// (cmd/wasigate/README.md), `wasigate check` and the engine agree.
func TestDefaultsFromOwners(t *testing.T) {
	l, s := DefaultLimits, DefaultServer
	for _, tt := range []struct {
		key       string
		got, want int64
	}{
		{"timeout", int64(l.Timeout), int64(host.DefaultTimeout)},
		{"max_body", int64(l.MaxBody), host.DefaultMaxBody},
		{"max_output", int64(l.MaxOutput), host.DefaultMaxOutput},
		{"max_open_files", int64(l.MaxOpenFiles), seam.DefaultMaxOpenFiles},
		{"outbound_requests", int64(l.OutboundRequests), seam.DefaultOutboundRequests},
		{"outbound_timeout", int64(l.OutboundTimeout), int64(seam.DefaultOutboundTimeout)},
		{"outbound_max_body", int64(l.OutboundMaxBody), seam.DefaultOutboundMaxBody},
		{"outbound_concurrency", int64(l.OutboundConcurrency), seam.DefaultOutboundConcurrency},
		{"server.max_cgi_header", int64(s.MaxCGIHeader), host.DefaultMaxHeaderBytes},
		{"server.read_timeout", int64(s.ReadTimeout), int64(host.DefaultReadTimeout)},
		{"server.write_timeout", int64(s.WriteTimeout), int64(host.DefaultWriteTimeout)},
		{"server.build_timeout", int64(s.BuildTimeout), int64(seam.DefaultBuildTimeout)},
		{"server.build_memory", int64(s.BuildMemory), seam.DefaultBuildMemory},
		{"server.build_concurrency", int64(s.BuildConcurrency), seam.DefaultBuildConcurrency},
		{"server.snapshot_init_timeout", int64(s.SnapshotInitTimeout), int64(seam.DefaultSnapshotInitTimeout)},
		{"server.snapshot_max_age", int64(s.SnapshotMaxAge), int64(seam.DefaultSnapshotMaxAge)},
		{"server.cache_max_age", int64(s.CacheMaxAge), int64(seam.DefaultCacheMaxAge)},
		{"server.max_module_size", int64(s.MaxModuleSize), seam.DefaultMaxModuleSize},
		{"server.cache_max_size", int64(s.CacheMaxSize), seam.DefaultCacheMaxSize},
		{"server.reuse_idle", int64(s.ReuseIdle), int64(seam.DefaultReuseIdle)},
		{"server.reuse_memory", int64(s.ReuseMemory), seam.DefaultReuseMemory},
	} {
		if tt.got != tt.want || tt.got <= 0 {
			t.Errorf("default %s = %d; want %d, its owner's", tt.key, tt.got, tt.want)
		}
	}
	// A configuration that sets nothing gets them through Or.
	if got := (Server{}).Or(DefaultServer).ReadTimeout; time.Duration(got) != host.DefaultReadTimeout {
		t.Errorf("read_timeout of an empty [server] = %s; want %s", time.Duration(got), host.DefaultReadTimeout)
	}
}
