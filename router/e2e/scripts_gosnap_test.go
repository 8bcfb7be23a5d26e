package e2e_test

import (
	"context"
	"errors"
	"github.com/wasigate/wasigate/router"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// TestScriptsGoSnapshot: a Go script on a scripts route is built as a
// reactor and served from a snapshot of the Go runtime's init
// (cmd/wasigate/DECISIONS.md#go-programs-are-built-as-reactors); over HTTP
// each request still sees its own state: a package counter at 1, its own
// math/rand, math/rand/v2 and time, its own CGI environment (a hostile
// header verbatim) and argv. snapshot = false on a route serves the same
// script booting the runtime per request. The build's log line says which.
func TestScriptsGoSnapshot(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repoRoot, "wasi", "testdata", "gosnap", "iso.go"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "scripts", "iso.go"), string(src))
	writeFile(t, filepath.Join(dir, "data", "file.txt"), "from the volume\n")
	srv, logs := scriptsSite(t, dir, `
[[route]]
path = "/s/*"
scripts = "scripts"
volumes = { "/data" = "data" }
timeout = "120s"

[[route]]
path = "/off/*"
scripts = "scripts"
volumes = { "/data" = "data" }
timeout = "120s"
snapshot = false
`)
	hostile := `a'b"c\d` + "\t%00x"
	for _, prefix := range []string{"/s", "/off"} {
		lines := func(word string) map[string]string {
			t.Helper()
			res, body := doRaw(t, "GET", srv.URL, prefix+"/iso.go?"+word, "", http.Header{"X-T": {hostile + word}})
			skipMissing(t, res.StatusCode, body)
			if res.StatusCode != 200 {
				t.Fatalf("GET %s/iso.go: status %d; want 200 (%s)", prefix, res.StatusCode, body)
			}
			l := map[string]string{}
			for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
				k, v, _ := strings.Cut(line, "=")
				l[k] = v
			}
			return l
		}
		a, b := lines("w1"), lines("w2")
		for _, k := range []string{"rand", "randv2", "crypto", "time"} {
			if a[k] == b[k] {
				t.Errorf("%s: %s = %s in both requests; want each request's own", prefix, k, a[k])
			}
		}
		for i, l := range []map[string]string{a, b} {
			w := []string{"w1", "w2"}[i]
			if l["counter"] != "1" || l["file"] != "from the volume" {
				t.Errorf("%s %s: counter %s, file %q; want 1, \"from the volume\"", prefix, w, l["counter"], l["file"])
			}
			if want := `["` + prefix + `/iso.go" "` + w + `"]`; l["args"] != want {
				t.Errorf("%s %s: os.Args = %s; want %s", prefix, w, l["args"], want)
			}
			if !strings.Contains(l["env"], `"QUERY_STRING=`+w+`"`) || !strings.Contains(l["env"], `"HTTP_X_T=a'b\"c\\d\t%00x`+w+`"`) {
				t.Errorf("%s %s: os.Environ() = %s; want QUERY_STRING=%s and X-T's value verbatim", prefix, w, l["env"], w)
			}
		}
	}
	log := logs.String()
	if !strings.Contains(log, `"snapshot":"snapshot: `) || !strings.Contains(log, `"snapshot":"turned off"`) {
		t.Errorf("log %s; want a script built with a snapshot and one with it turned off", log)
	}
}

// TestRouteGoAppSnapshot: a route whose module is a Go module folder
// (samples/scripts/app, net/http + chi over net/http/cgi) is built as a
// driver and served from a snapshot; the route says so, and each request
// sees its own SCRIPT_NAME, path and POST body.
func TestRouteGoAppSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg, err := router.ParseConfig(strings.NewReader(`
[[route]]
path = "/app/*"
module = "`+filepath.Join(repoRoot, "samples", "scripts", "app")+`"
timeout = "120s"

[[route]]
path = "/other/*"
module = "`+filepath.Join(repoRoot, "samples", "scripts", "app")+`"
`), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	site, err := router.Build(context.Background(), cfg, router.Options{
		Loader: &cgi.Loader{Engine: scriptsEngine(t), Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(dir, "builds"), GoCache: testGoCache()}},
		Log:    zerolog.Nop(),
	})
	if errors.Is(err, toolchain.ErrToolchain) && !requireToolchains() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	for _, r := range site.Routes {
		if !strings.HasPrefix(r.Snapshot.String(), "snapshot: ") {
			t.Errorf("route %s: snapshot %q; want one", r.Pattern, r.Snapshot)
		}
	}
	srv := httptest.NewServer(site.Handler)
	defer srv.Close()
	for _, mount := range []string{"/app", "/other"} {
		res, body := get(t, srv.URL+mount+"/")
		if res.StatusCode != 200 || !strings.Contains(body, "Mounted at <code>"+mount+"</code>") {
			t.Errorf("GET %s/: %d %q; want 200 and the page of the app mounted at %s", mount, res.StatusCode, body, mount)
		}
		res, body = get(t, srv.URL+mount+"/hello/gopher"+mount[1:])
		if res.StatusCode != 200 || body != "Hello, gopher"+mount[1:]+"!\n" {
			t.Errorf("GET %s/hello: %d %q", mount, res.StatusCode, body)
		}
		res, body = doRaw(t, "POST", srv.URL, mount+"/echo", "body of "+mount, http.Header{"Content-Type": {"text/plain"}})
		if res.StatusCode != 200 || body != "body of "+mount {
			t.Errorf("POST %s/echo: %d %q", mount, res.StatusCode, body)
		}
	}
}
