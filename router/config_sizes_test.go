package router

import (
	"strings"
	"testing"
)

// TestConfigSizeKeys: max_module_size and cache_max_size take their
// defaults, accept sizes in units, and a bad value fails naming the file
// and the key.
func TestConfigSizeKeys(t *testing.T) {
	const route = "\n[[route]]\npath = \"/x\"\nmodule = \"a.wasm\"\n"
	const file = "/etc/wasigate/sizes.toml"
	cfg, err := ParseConfig(strings.NewReader(route), file)
	if err != nil {
		t.Fatal(err)
	}
	srv := cfg.Server.Or(DefaultServer)
	if srv.MaxModuleSize != 128<<20 || srv.CacheMaxSize != 2<<30 {
		t.Errorf("defaults: max_module_size %d, cache_max_size %d; want 128MiB and 2GiB", srv.MaxModuleSize, srv.CacheMaxSize)
	}
	cfg, err = ParseConfig(strings.NewReader("[server]\nmax_module_size = \"64MiB\"\ncache_max_size = \"1GiB\"\n"+route), file)
	if err != nil {
		t.Fatal(err)
	}
	if srv := cfg.Server.Or(DefaultServer); srv.MaxModuleSize != 64<<20 || srv.CacheMaxSize != 1<<30 {
		t.Errorf("set: max_module_size %d, cache_max_size %d; want 64MiB and 1GiB", srv.MaxModuleSize, srv.CacheMaxSize)
	}

	for _, c := range []struct {
		name, server, want string
	}{
		{"module size not a size", `max_module_size = "big"`, `max_module_size`},
		{"module size negative", `max_module_size = -1`, `max_module_size`},
		{"module size too small", `max_module_size = "1KiB"`, `max_module_size 1024: want at least 64KiB`},
		{"cache too small", `cache_max_size = "1MiB"`, `cache_max_size 1048576: want at least 64MiB`},
		{"cache under two modules", `cache_max_size = "200MiB"`, `cache_max_size 209715200 must be at least twice max_module_size 134217728`},
		{"cache under two set modules", "max_module_size = \"1GiB\"\ncache_max_size = \"1GiB\"", `must be at least twice max_module_size`},
		{"memory limit too small", `memory_limit = "16MiB"`, `memory_limit 16777216: want at least 64MiB`},
		{"memory limit not a size", `memory_limit = "half"`, `memory_limit`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader("[server]\n"+c.server+"\n"+route), file)
			if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want an error naming %s and %q", err, file, c.want)
			}
		})
	}
}
