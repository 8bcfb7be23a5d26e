package router

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestWAGIRoutes(t *testing.T) {
	envURL := "file://" + filepath.ToSlash(guest("env.wasm"))
	srv, _ := testSite(t, "", `
[[module]]
route = "/x"
module = "../testdata/guests/env.wasm"
environment = { GREETING = "hi" }

[[module]]
route = "/y/..."
module = "`+envURL+`"
argv = "prog --flag ${ARGS}"

[[module]]
route = "/alpha"
module = "../testdata/guests/routes.wasm"
entrypoint = "alpha"

[[module]]
route = "/r/..."
module = "../testdata/guests/routes.wasm"

[[module]]
route = "/..."
module = "../testdata/guests/hello.wasm"
`)
	cases := []struct {
		name   string
		target string
		body   string            // exact body, for non-env guests
		env    map[string]string // for env.wasm
		argv   []string
	}{
		{name: "exact route", target: "/x?a=1&b=two%20words", env: map[string]string{"SCRIPT_NAME": "/x", "PATH_INFO": "", "GREETING": "hi", "X_MATCHED_ROUTE": "/x"},
			argv: []string{"/x", "a=1", "b=two%20words"}}, // WAGI's default argv: ${SCRIPT_NAME} ${ARGS}, pairs raw
		{name: "argv pairs raw: no + to space, no decoding, empty pairs dropped, as WAGI", target: "/x?q=a+b&&c=%41%2B&d", env: map[string]string{"QUERY_STRING": "q=a+b&&c=%41%2B&d"},
			argv: []string{"/x", "q=a+b", "c=%41%2B", "d"}},
		{name: "exact route is exact", target: "/x/more", body: "hello\n"},
		{name: "prefix route, file:// module", target: "/y/z/w?q=1", env: map[string]string{"SCRIPT_NAME": "/y", "PATH_INFO": "/z/w", "PATH_TRANSLATED": "/z/w", "X_RAW_PATH_INFO": "/z/w", "X_MATCHED_ROUTE": "/y/..."},
			argv: []string{"prog", "--flag", "q=1"}},
		{name: "prefix route serves its root", target: "/y", env: map[string]string{"SCRIPT_NAME": "/y", "PATH_INFO": "", "PATH_TRANSLATED": ""}},
		{name: "everything else", target: "/anything/at/all", body: "hello\n"},
		{name: "entrypoint", target: "/alpha", body: "alpha\n"},
		{name: "_routes: module's own route", target: "/r/", body: "start\n"},
		{name: "_routes: exact sub-route", target: "/r/a", body: "alpha\n"},
		{name: "_routes: prefix sub-route", target: "/r/b/deep/er", body: "beta\n"},
		{name: "_routes: prefix sub-route root", target: "/r/b", body: "beta\n"},
		{name: "_routes: sub-route naming _start", target: "/r/c", body: "start\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := get(t, srv.URL+c.target)
			if res.StatusCode != 200 {
				t.Fatalf("status %d; want 200 (body %q)", res.StatusCode, body)
			}
			if c.env == nil {
				if body != c.body {
					t.Errorf("body %q; want %q", body, c.body)
				}
				return
			}
			got := parseEnv(t, body)
			for k, v := range c.env {
				if got.env[k] != v {
					t.Errorf("%s=%q; want %q", k, got.env[k], v)
				}
			}
			if c.argv != nil && strings.Join(got.argv, "|") != strings.Join(c.argv, "|") {
				t.Errorf("argv %q; want %q", got.argv, c.argv)
			}
		})
	}
}

func TestWAGIParse(t *testing.T) {
	cases := []struct {
		name     string
		toml     string
		err      string   // substring of the error; "" means success
		warnings []string // substrings, one warning each, in order
		path     string   // the route's chi pattern
		module   string
	}{
		{name: "exact", toml: `[[module]]
route = "/x"
module = "a.wasm"`, path: "/x", module: "a.wasm"},
		{name: "prefix", toml: `[[module]]
route = "/x/..."
module = "a.wasm"`, path: "/x/*", module: "a.wasm"},
		{name: "everything", toml: `[[module]]
route = "/..."
module = "a.wasm"`, path: "/*", module: "a.wasm"},
		{name: "file URL", toml: `[[module]]
route = "/x"
module = "file:///srv/a.wasm"`, path: "/x", module: "/srv/a.wasm"},
		{name: "file URL on localhost", toml: `[[module]]
route = "/x"
module = "file://localhost/srv/a.wasm"`, path: "/x", module: "/srv/a.wasm"},
		{name: "file URL relative", toml: `[[module]]
route = "/x"
module = "file:a.wasm"`, path: "/x", module: "a.wasm"},
		{name: "file URL with a host", toml: `[[module]]
route = "/x"
module = "file://a.wasm"`, err: `module "file://a.wasm": a file URL names no host`},
		{name: "file URL with a remote host", toml: `[[module]]
route = "/x"
module = "file://fileserver/srv/a.wasm"`, err: "a file URL names no host"},
		{name: "oci rejected", toml: `[[module]]
route = "/x"
module = "oci:example.com/a:1"`, err: `modules.toml: module #1 "/x": module "oci:example.com/a:1": oci: and bindle: references are not supported`},
		{name: "bindle rejected", toml: `[[module]]
route = "/x"
module = "bindle:example/a/1.0"`, err: "not supported"},
		{name: "https rejected", toml: `[[module]]
route = "/x"
module = "https://example.com/a.wasm"`, err: "only file paths and file:// URLs"},
		{name: "module missing", toml: `[[module]]
route = "/x"`, err: `module #1 "/x": module is required`},
		{name: "unknown key", toml: `[[module]]
route = "/x"
module = "a.wasm"
colour = "blue"`, err: "unknown WAGI keys: module.colour"},
		{name: "ignored key warned once; allowed_hosts honoured", toml: `[[module]]
route = "/x"
module = "a.wasm"
allowed_hosts = ["https://example.com"]
http_max_concurrency = 4
[[module]]
route = "/y"
module = "a.wasm"
allowed_hosts = ["https://example.org"]`, path: "/x", module: "a.wasm", warnings: []string{
			"modules.toml: WAGI key http_max_concurrency is not implemented",
		}},
		{name: "environment colliding with CGI", toml: `[[module]]
route = "/x"
module = "a.wasm"
environment = { SCRIPT_NAME = "/evil" }`, err: `modules.toml: route #1 "/x": env SCRIPT_NAME collides`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(c.toml), "/site/modules.toml")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v; want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v; want none", err)
			}
			if !cfg.WAGI {
				t.Errorf("WAGI=false; want true")
			}
			if got := cfg.Routes[0]; got.Path != c.path || got.Module != c.module || got.Argv != "${SCRIPT_NAME} ${ARGS}" {
				t.Errorf("route path=%q module=%q argv=%q; want %q %q and WAGI's default argv", got.Path, got.Module, got.Argv, c.path, c.module)
			}
			if len(cfg.Warnings) != len(c.warnings) {
				t.Fatalf("warnings %q; want %d", cfg.Warnings, len(c.warnings))
			}
			for i, w := range c.warnings {
				if !strings.Contains(cfg.Warnings[i], w) {
					t.Errorf("warning %q; want it to contain %q", cfg.Warnings[i], w)
				}
			}
		})
	}
}

// TestWAGIRejectedKeysAreConfigErrors: callers branch on ErrConfig.
func TestWAGIRejectedKeysAreConfigErrors(t *testing.T) {
	_, err := ParseConfig(strings.NewReader("[[module]]\nroute = \"/x\"\nmodule = \"oci:a\"\n"), "modules.toml")
	if !errors.Is(err, ErrConfig) {
		t.Errorf("error %v; want it to wrap ErrConfig", err)
	}
}

func TestWAGISubRoutesListed(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("[[module]]\nroute = \"/r/...\"\nmodule = \"../testdata/guests/routes.wasm\"\n"), guest("modules.toml"))
	if err != nil {
		t.Fatal(err)
	}
	site, err := Build(t.Context(), cfg, Options{Loader: &fakeLoader{}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range site.Routes {
		got = append(got, r.Pattern+" "+r.Entrypoint)
	}
	want := []string{"/r/* _start", "/r/a alpha", "/r/b/* beta", "/r/c _start"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("routes %q; want %q", got, want)
	}
}

// TestWAGIAllowedHosts: WAGI's allowed_hosts becomes the route's policy; an
// entry that is not scheme://host[:port] fails at startup naming the file
// and the route.
func TestWAGIAllowedHosts(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(`[[module]]
route = "/x"
module = "a.wasm"
allowed_hosts = ["https://api.example.com", "insecure:allow-all"]`), "/site/modules.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Routes[0].AllowedHosts; len(got) != 2 || got[0] != "https://api.example.com" {
		t.Errorf("got allowed_hosts %q; want the module's two entries", got)
	}
	_, err = ParseConfig(strings.NewReader(`[[module]]
route = "/x"
module = "a.wasm"
allowed_hosts = ["api.example.com"]`), "/site/modules.toml")
	if want := `/site/modules.toml: route #1 "/x": invalid allowed_hosts entry "api.example.com"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v; want an error containing %q", err, want)
	}
}
