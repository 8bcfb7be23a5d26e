package router

import (
	"strings"
	"testing"
)

// FuzzParseConfig feeds arbitrary text to ParseConfig, as native TOML and
// as WAGI's modules.toml: it never panics, and returns either a valid
// configuration or an error, never both or neither.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"",
		`listen = "127.0.0.1:8080"
[defaults]
timeout = "10s"
memory = "64MiB"
max_body = "10MiB"
max_output = "64MiB"
concurrency = 64
queue_timeout = "1s"
[server]
read_header_timeout = "10s"
max_header_bytes = "128KiB"
max_uri = "16KiB"
[[route]]
path = "/hello"
module = "hello.wasm"
env = { A = "1" }
volumes = { "/data" = "data", "/rw" = { path = "rw", writable = true } }
methods = ["GET", "POST"]
timeout = "300ms"
`,
		`[[route]]
path = "/x/*"
module = "x.wasm"
memory = "1KiB"
concurrency = -1
`,
		`[[module]]
route = "/..."
module = "file:///app/x.wasm"
volumes = { "/d" = "d" }
environment = { K = "v" }
argv = "${SCRIPT_NAME} ${ARGS}"
allowed_hosts = ["https://x"]
`,
		`[[module]]
route = "/a/..."
module = "oci:ghcr.io/x"
`,
		`[[route]]
path = "/a"
module = "a.wasm"
volumes = { "/d" = 3 }
timeout = "-1s"
max_body = "9999999999GiB"
`,
		`module = 1`,
		`[[route]]
path = "/"
module = "m.wasm"
[[route]]
path = "/"
module = "m.wasm"
env = { PATH_INFO = "x", "bad name" = "y" }
`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := ParseConfig(strings.NewReader(text), "/fuzz/wasigate.toml")
		if (cfg == nil) == (err == nil) {
			t.Fatalf("config %v, error %v: want exactly one", cfg, err)
		}
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		for _, r := range cfg.Routes {
			if !strings.HasPrefix(r.Path, "/") || r.Module == "" {
				t.Errorf("route %+v accepted", r)
			}
			l := r.Limits.Or(cfg.Defaults).Or(DefaultLimits)
			if l.Timeout <= 0 || l.Memory <= 0 || l.MaxBody <= 0 || l.MaxOutput <= 0 || l.Concurrency <= 0 || l.QueueTimeout <= 0 {
				t.Errorf("route %s: effective limits %+v; want all positive", r.Path, l)
			}
		}
	})
}
