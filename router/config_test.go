package router

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValid(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(`
listen = "127.0.0.1:9000"
[defaults]
timeout = "2s"
memory = "32MiB"
[server]
max_uri = "8KiB"
[[route]]
path = "/a/*"
module = "a.wasm"
env = { GREETING = "hi", lower_case = "ok" }
volumes = { "/data" = "data", "/tmp" = { path = "tmp", writable = true } }
methods = ["GET", "POST"]
timeout = "500ms"
[[route]]
path = "/a/*"
module = "b.wasm"
methods = ["PUT"]
`), "/site/wasigate.toml")
	if err != nil {
		t.Fatalf("error %v; want none", err)
	}
	r := cfg.Routes[0]
	lim := r.Limits.Or(cfg.Defaults.Or(DefaultLimits))
	if time.Duration(lim.Timeout) != 500*time.Millisecond || lim.Memory != 32<<20 || lim.MaxBody != DefaultLimits.MaxBody {
		t.Errorf("limits %+v; want timeout 500ms (route), memory 32MiB ([defaults]), max_body default", lim)
	}
	if v := r.Volumes["/tmp"]; v.Path != "tmp" || !v.Writable {
		t.Errorf("volume /tmp %+v; want tmp, writable", v)
	}
	if v := r.Volumes["/data"]; v.Path != "data" || v.Writable {
		t.Errorf("volume /data %+v; want data, read-only", v)
	}
	if got := cfg.Abs(r.Module); got != "/site/a.wasm" {
		t.Errorf("module resolves to %q; want /site/a.wasm", got)
	}
	if s := cfg.Server.Or(DefaultServer); s.MaxURI != 8<<10 || s.MaxCGIHeader != DefaultServer.MaxCGIHeader {
		t.Errorf("server %+v; want max_uri 8KiB and the default max_cgi_header", s)
	}
}

func TestConfigErrors(t *testing.T) {
	const file = "/site/wasigate.toml"
	cases := []struct {
		name string
		toml string
		want []string // each a substring of one error line
	}{
		{name: "env collides with a CGI name", toml: `[[route]]
path = "/x"
module = "a.wasm"
env = { PATH_INFO = "/evil" }`, want: []string{`route #1 "/x": env PATH_INFO collides with a CGI variable`}},
		{name: "env collides in lower case", toml: `[[route]]
path = "/x"
module = "a.wasm"
env = { http_proxy = "http://evil" }`, want: []string{`env http_proxy collides`}},
		{name: "env WAGI extra", toml: `[[route]]
path = "/x"
module = "a.wasm"
env = { X_MATCHED_ROUTE = "/" }`, want: []string{`env X_MATCHED_ROUTE collides`}},
		{name: "env bad name", toml: `[[route]]
path = "/x"
module = "a.wasm"
env = { "1X" = "v" }`, want: []string{`env name "1X" is not a valid variable name`}},
		{name: "unknown top-level key", toml: `lisen = "x"
[[route]]
path = "/x"
module = "a.wasm"`, want: []string{"unknown keys: lisen"}},
		{name: "unknown route key", toml: `[[route]]
path = "/x"
module = "a.wasm"
modul = "b.wasm"`, want: []string{"unknown keys: route.modul"}},
		{name: "unknown volume key", toml: `[[route]]
path = "/x"
module = "a.wasm"
volumes = { "/d" = { path = "d", writeable = true } }`, want: []string{`unknown volume key "writeable"`}},
		{name: "path without slash", toml: `[[route]]
path = "x"
module = "a.wasm"`, want: []string{`route #1 "x": path must start with /`}},
		{name: "star in the middle", toml: `[[route]]
path = "/a/*/b"
module = "a.wasm"`, want: []string{`route #1 "/a/*/b": * is only allowed as the last segment`}},
		{name: "path missing", toml: `[[route]]
module = "a.wasm"`, want: []string{`route #1 "": path is required`}},
		{name: "module missing", toml: `[[route]]
path = "/x"`, want: []string{`route #1 "/x": module (or scripts) is required`}},
		{name: "duplicate path", toml: `[[route]]
path = "/x"
module = "a.wasm"
[[route]]
path = "/x"
module = "b.wasm"`, want: []string{`route #2 "/x": same path as route #1`}},
		{name: "lower-case method", toml: `[[route]]
path = "/x"
module = "a.wasm"
methods = ["get"]`, want: []string{`method "get" is not an upper-case HTTP method`}},
		{name: "memory too small", toml: `[[route]]
path = "/x"
module = "a.wasm"
memory = "1KiB"`, want: []string{`route #1 "/x": memory must be between 64KiB and 4GiB`}},
		{name: "max_open_files negative", toml: `[defaults]
max_open_files = -1
[[route]]
path = "/x"
module = "a.wasm"
max_open_files = 100000`, want: []string{`[defaults]: max_open_files must be between 1 and 65536`, `route #1 "/x": max_open_files must be between 1 and 65536`}},
		{name: "defaults checked", toml: `[defaults]
concurrency = -1
[[route]]
path = "/x"
module = "a.wasm"`, want: []string{`[defaults]: concurrency must be positive`}},
		{name: "bad duration", toml: `[[route]]
path = "/x"
module = "a.wasm"
timeout = "10 parsecs"`, want: []string{`invalid duration "10 parsecs"`}},
		{name: "bad size", toml: `[[route]]
path = "/x"
module = "a.wasm"
max_body = "lots"`, want: []string{`invalid size "lots"`}},
		{name: "relative volume guest path", toml: `[[route]]
path = "/x"
module = "a.wasm"
volumes = { "data" = "data" }`, want: []string{`volume guest path "data" must be absolute`}},
		{name: "one guest folder mounted twice", toml: `[[route]]
path = "/x"
module = "a.wasm"
volumes = { "/data" = "a", "/data/" = "b" }`, want: []string{`volumes "/data" and "/data/" name the same guest folder /data: keep one`}},
		{name: "every problem at once", toml: `[[route]]
path = "x"
module = "a.wasm"
[[route]]
path = "/y"
env = { SCRIPT_NAME = "s" }`, want: []string{`route #1 "x": path must start with /`, `route #2 "/y": module (or scripts) is required`, `route #2 "/y": env SCRIPT_NAME collides`}},
		{name: "TOML syntax", toml: `[[route]
path = "/x"`, want: []string{file + ":"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(c.toml), file)
			if err == nil {
				t.Fatalf("no error; want %q", c.want)
			}
			lines := strings.Split(err.Error(), "\n")
			for _, w := range c.want {
				found := false
				for _, l := range lines {
					found = found || strings.Contains(l, w)
				}
				if !found {
					t.Errorf("error %q; want a line containing %q", err, w)
				}
			}
			for _, l := range lines {
				if !strings.Contains(l, file) {
					t.Errorf("error line %q does not name the file %s", l, file)
				}
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}

func TestLowerPriorityKey(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
	}{
		{"default on", "", true},
		{"on", "[server]\nlower_priority = true\n", true},
		{"off", "[server]\nlower_priority = false\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tt.text+"[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\n"), "/site/wasigate.toml")
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Server.Or(DefaultServer).LowersPriority(); got != tt.want {
				t.Errorf("LowersPriority() = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestDeadlineKey(t *testing.T) {
	tests := []struct {
		name, text string
		want       string // "" means Validate fails
	}{
		{"default", "", "instrument"},
		{"instrument", "[server]\ndeadline = \"instrument\"\n", "instrument"},
		{"wazero", "[server]\ndeadline = \"wazero\"\n", "wazero"},
		{"unknown", "[server]\ndeadline = \"epoch\"\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tt.text+"[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\n"), "/site/wasigate.toml")
			if err == nil {
				err = cfg.Validate()
			}
			if tt.want == "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "/site/wasigate.toml") || !strings.Contains(err.Error(), "deadline") {
					t.Errorf("got %v; want ErrConfig naming the file and deadline", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Server.Or(DefaultServer).Deadline; got != tt.want {
				t.Errorf("Deadline = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestCacheMaxAgeKey: [server] cache_max_age defaults to 14 days, takes a
// duration, and refuses one under an hour naming the file.
func TestCacheMaxAgeKey(t *testing.T) {
	tests := []struct {
		name, text string
		want       time.Duration // 0 means Validate fails
	}{
		{"default", "", 14 * 24 * time.Hour},
		{"set", "[server]\ncache_max_age = \"72h\"\n", 72 * time.Hour},
		{"too short", "[server]\ncache_max_age = \"5m\"\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tt.text+"[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\n"), "/site/wasigate.toml")
			if err == nil {
				err = cfg.Validate()
			}
			if tt.want == 0 {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "/site/wasigate.toml") || !strings.Contains(err.Error(), "cache_max_age") {
					t.Errorf("got %v; want ErrConfig naming the file and cache_max_age", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(cfg.Server.Or(DefaultServer).CacheMaxAge); got != tt.want {
				t.Errorf("CacheMaxAge = %s; want %s", got, tt.want)
			}
		})
	}
}
