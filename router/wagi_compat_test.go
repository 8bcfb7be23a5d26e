package router

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// copyGuest copies a test guest to dst, creating its folder.
func copyGuest(t *testing.T, name, dst string) {
	t.Helper()
	b, err := os.ReadFile(guest(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveFile loads a configuration file as wasigate serve -c does and serves
// it over loopback.
func serveFile(t *testing.T, path string) (*Config, *httptest.Server) {
	t.Helper()
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	site, err := Build(t.Context(), cfg, Options{Loader: &fakeLoader{}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := httptest.NewServer(site.Handler)
	t.Cleanup(srv.Close)
	return cfg, srv
}

// TestWAGIExampleFromWorkingDir: WAGI's own example, laid out as in its
// repository (examples/modules.toml naming examples/hello.wat) and started
// from the repository's root as its Makefile does (wagi -c
// examples/modules.toml), starts and serves: module and volume paths are
// relative to the working directory, and the keys WAGI ignores (repository,
// bindle_server) are warned about once each.
func TestWAGIExampleFromWorkingDir(t *testing.T) {
	root := t.TempDir()
	copyGuest(t, "hello.wat", filepath.Join(root, "examples", "hello.wat"))
	copyGuest(t, "hello.wasm", filepath.Join(root, "examples", "hello.wasm"))
	copyGuest(t, "fs.wasm", filepath.Join(root, "examples", "fs.wasm"))
	if err := os.MkdirAll(filepath.Join(root, "examples", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "examples", "data", "a.txt"), []byte("from the volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := `default_host = "localhost:3000"
bindle_server = "http://localhost:8080/v1"

[[module]]
route = "/"
module = "examples/hello.wat"

[[module]]
route = "/hello/..."
module = "examples/hello.wasm"
repository = "reserved"

[[module]]
route = "/files"
module = "examples/fs.wasm"
repository = "reserved"
volumes = { "/data" = "examples/data" }
`
	if err := os.WriteFile(filepath.Join(root, "examples", "modules.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	cfg, srv := serveFile(t, "examples/modules.toml")
	for _, key := range []string{"default_host", "bindle_server", "repository"} {
		n := 0
		for _, w := range cfg.Warnings {
			if strings.Contains(w, "WAGI key "+key+" ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("got %d warnings for %s (%q); want 1", n, key, cfg.Warnings)
		}
	}
	cases := []struct{ name, target, body string }{
		{"wat module at /", "/", "hello\n"},
		{"wasm module under /hello/...", "/hello/today/is/a/good/day", "hello\n"},
		{"volume relative to the working directory", "/files?/data/a.txt", "read /data/a.txt: ok from the volume\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := get(t, srv.URL+c.target)
			if res.StatusCode != 200 || !strings.HasPrefix(body, c.body) {
				t.Errorf("got %d %q; want 200 starting with %q", res.StatusCode, body, c.body)
			}
		})
	}
}

// TestNativeConfigStaysFileRelative: a wasigate TOML keeps its paths
// relative to its own folder, wherever the server is started.
func TestNativeConfigStaysFileRelative(t *testing.T) {
	root := t.TempDir()
	copyGuest(t, "hello.wasm", filepath.Join(root, "site", "hello.wasm"))
	if err := os.WriteFile(filepath.Join(root, "site", "wasigate.toml"), []byte("[[route]]\npath = \"/x\"\nmodule = \"hello.wasm\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	_, srv := serveFile(t, "site/wasigate.toml")
	if res, body := get(t, srv.URL+"/x"); res.StatusCode != 200 || body != "hello\n" {
		t.Errorf("got %d %q; want 200 %q", res.StatusCode, body, "hello\n")
	}
}

// TestWAGIRoutesLastMatchWins: of a module's _routes that match a
// request, the last one listed runs, as WAGI documents ("writing
// modules"). routes_last lists /one/two/... beta, then /one/... alpha.
func TestWAGIRoutesLastMatchWins(t *testing.T) {
	srv, _ := testSite(t, "", `
[[module]]
route = "/example"
module = "../testdata/guests/routes_last.wasm"
`)
	cases := []struct{ name, target, body string }{
		{"module's own route", "/example", "start\n"},
		{"only the earlier pattern's prefix", "/example/one/x", "alpha\n"},
		{"both match: the later wins", "/example/one/two/three", "alpha\n"},
		{"both match at the earlier's root", "/example/one/two", "alpha\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := get(t, srv.URL+c.target)
			if res.StatusCode != 200 || body != c.body {
				t.Errorf("got %d %q; want 200 %q", res.StatusCode, body, c.body)
			}
		})
	}
}

// TestPathTranslated: PATH_TRANSLATED is set whenever PATH_INFO is not
// empty (RFC 3875 section 4.1.6): PATH_INFO itself, as WAGI sets it, or the
// path under the volume mounted at /, cleaned.
func TestPathTranslated(t *testing.T) {
	dir := t.TempDir()
	srv, _ := testSite(t, dir, `
[[route]]
path = "/plain/*"
module = `+q(guest("env.wasm"))+`

[[route]]
path = "/doc/*"
module = `+q(guest("env.wasm"))+`
volumes = { "/" = "." }
`)
	cases := []struct{ name, target, info, translated string }{
		{"no volume", "/plain/a//b", "/a//b", "/a//b"},
		{"volume at /", "/doc/a//b", "/a//b", "/a/b"},
		{"empty PATH_INFO", "/plain", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, body := doRaw(t, "GET", srv.URL, c.target, "", nil)
			env := parseEnv(t, body).env
			_, set := env["PATH_TRANSLATED"]
			if env["PATH_INFO"] != c.info || env["PATH_TRANSLATED"] != c.translated || set != (c.translated != "") {
				t.Errorf("got PATH_INFO %q PATH_TRANSLATED %q (set %v); want %q %q", env["PATH_INFO"], env["PATH_TRANSLATED"], set, c.info, c.translated)
			}
		})
	}
}
