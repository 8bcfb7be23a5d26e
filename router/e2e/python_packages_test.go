package e2e_test

import (
	"bytes"
	"context"
	"github.com/wasigate/wasigate/router"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// samplesPythonSite serves samples/scripts at /s/* with the samples'
// own configuration (samples/wasigate.toml): its interpreters and its
// /s/* route, the rest of the site left out so that nothing else builds.
func samplesPythonSite(t *testing.T) string {
	t.Helper()
	needPython(t)
	cfg, err := router.LoadConfig(filepath.Join(repoRoot, "samples", "wasigate.toml"))
	if err != nil {
		t.Fatalf("samples/wasigate.toml: %v", err)
	}
	var routes []router.Route
	for _, r := range cfg.Routes {
		if r.Path == "/s/*" {
			routes = append(routes, r)
		}
	}
	if len(routes) != 1 {
		t.Fatalf("samples/wasigate.toml: got %d /s/* routes; want 1", len(routes))
	}
	cfg.Routes = routes
	logs := &logBuffer{}
	site, err := router.Build(context.Background(), cfg, router.Options{
		Loader: &cgi.Loader{Engine: scriptsEngine(t), Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(t.TempDir(), "builds"), GoCache: testGoCache()}},
		Log:    zerolog.New(logs),
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := httptest.NewServer(site.Handler)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return srv.URL
}

// TestPythonSampleZoneinfo: the sample clock.py finds Paris's time zone
// through the standard library's zoneinfo and Debian's pytz, which read
// /usr/share/zoneinfo, mounted by the sample interpreter.
func TestPythonSampleZoneinfo(t *testing.T) {
	url := samplesPythonSite(t)
	res, body := pyDo(t, "GET", url+"/s/clock.py", "", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /s/clock.py: got %d; want 200: %s", res.StatusCode, body)
	}
	// Paris is one or two hours ahead of UTC, whatever the date.
	if !regexp.MustCompile(`(?m)^Europe/Paris +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$`).MatchString(body) {
		t.Errorf("GET /s/clock.py: got %q; want a line for Europe/Paris at +01:00 or +02:00", body)
	}
	if !regexp.MustCompile(`(?m)^pytz \S+ CES?T \+0[12]00$`).MatchString(body) {
		t.Errorf("GET /s/clock.py: got %q; want pytz's Europe/Paris as CET or CEST", body)
	}
}

// TestPythonSampleCherryPy: the sample cherrypy.wsgi answers over HTTP
// from its snapshot, with nothing of CherryPy's logging in the page.
func TestPythonSampleCherryPy(t *testing.T) {
	url := samplesPythonSite(t)
	wsgiLoaded(t, url+"/s/cherrypy.wsgi/")
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/s/cherrypy.wsgi/", 200, "hello, world, from CherryPy 18.8.0\n"},
		{"/s/cherrypy.wsgi/ada", 200, "hello, ada, from CherryPy 18.8.0\n"},
		{"/s/cherrypy.wsgi/?name=bob", 200, "hello, bob, from CherryPy 18.8.0\n"},
	} {
		res, body := pyDo(t, "GET", url+tt.path, "", nil)
		if res.StatusCode != tt.status || body != tt.want {
			t.Errorf("GET %s: got %d %q; want %d %q", tt.path, res.StatusCode, body, tt.status, tt.want)
		}
		if mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type")); err != nil || mt != "text/plain" || params["charset"] != "utf-8" {
			t.Errorf("GET %s: got Content-Type %q; want text/plain with charset utf-8", tt.path, res.Header.Get("Content-Type"))
		}
	}
	// CherryPy's own 404 page, not a log line or a traceback.
	res, body := pyDo(t, "GET", url+"/s/cherrypy.wsgi/a/b/c", "", nil)
	if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "404 Not Found") || strings.Contains(body, "Traceback") {
		t.Errorf("GET /s/cherrypy.wsgi/a/b/c: got %d %q; want CherryPy's 404 page without a traceback", res.StatusCode, body)
	}
}

// pythonTestDist is a dist for install.sh to add packages to: the real
// one's CPython and stdlib, an empty site-packages of its own.
func pythonTestDist(t *testing.T) string {
	t.Helper()
	needPython(t)
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("install.sh downloads Debian packages: no apt-get here")
	}
	dist := filepath.Join(t.TempDir(), "dist")
	if err := os.MkdirAll(filepath.Join(dist, "site-packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(pythonDist, "STAMP"), filepath.Join(dist, "STAMP"))
	for _, name := range []string{"python.wasm", "lib", "zoneinfo"} {
		if err := os.Symlink(filepath.Join(pythonDist, name), filepath.Join(dist, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dist
}

// installPackages runs install.sh with package names into dist.
func installPackages(t *testing.T, dist string, names ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot, "samples", "python", "install.sh")}, names...)...)
	cmd.Env = append(os.Environ(), "WASIGATE_PYTHON_DIST="+dist)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestPythonInstallPackages: install.sh refuses a package with a compiled
// extension, naming the file, and installs nothing; it installs a pure
// one (docutils, whose templates Debian's patch reads from /usr/share) that
// a script then uses over HTTP; a second run changes nothing.
func TestPythonInstallPackages(t *testing.T) {
	dist := pythonTestDist(t)
	site := filepath.Join(dist, "site-packages")

	out, err := installPackages(t, dist, "python3-yaml")
	if err == nil || !strings.Contains(out, "python3-yaml: yaml/_yaml.cpython-311-x86_64-linux-gnu.so") || !strings.Contains(out, "compiled extensions") {
		t.Errorf("install.sh python3-yaml: got %v, %q; want a failure naming yaml/_yaml...so as a compiled extension", err, out)
	}
	if entries, _ := os.ReadDir(site); len(entries) != 0 {
		t.Errorf("after a refused install: got %d entries in site-packages; want none", len(entries))
	}
	out, err = installPackages(t, dist, "python3-no-such-package")
	if err == nil || !strings.Contains(out, "no Debian package named python3-no-such-package") {
		t.Errorf("install.sh python3-no-such-package: got %v, %q; want a failure naming it", err, out)
	}

	if out, err = installPackages(t, dist, "python3-docutils"); err != nil {
		t.Fatalf("install.sh python3-docutils: %v\n%s", err, out)
	}
	for _, f := range []string{"site-packages/docutils/__pycache__/core.cpython-311.pyc", "site-packages/roman.py", "share/docutils/writers/html4css1/template.txt"} {
		if fi, err := os.Lstat(filepath.Join(dist, f)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("after install.sh python3-docutils: %s: got %v, %v; want a regular file", f, fi, err)
		}
	}
	listed, _ := os.ReadFile(filepath.Join(dist, "PACKAGES"))
	if !regexp.MustCompile(`(?m)^python3-docutils \S+$`).Match(listed) {
		t.Errorf("dist/PACKAGES: got %q; want a python3-docutils line", listed)
	}
	if out, err = installPackages(t, dist, "python3-docutils"); err != nil || !strings.Contains(out, "already in") || strings.Contains(out, "downloading") {
		t.Errorf("install.sh python3-docutils again: got %v, %q; want \"already in\" and no download", err, out)
	}

	// A script renders reStructuredText with docutils' HTML writer, which
	// reads its template and stylesheets from the package's folder.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "rst.py"), `from docutils.core import publish_string
print("Content-Type: text/html\n")
print(publish_string("Title\n=====\n\n*hello* from docutils\n", writer_name="html4css1").decode())
`)
	// As the sample interpreter mounts them (samples/wasigate.toml).
	interp := strings.Replace(pythonInterpreter(""), filepath.Join(pythonDist, "site-packages"), site, 1)
	interp = strings.Replace(interp, `volumes = { `, `volumes = { "/usr/share" = `+tomlQuote(filepath.Join(dist, "share"))+`, `, 1)
	srv, _ := scriptsSite(t, dir, interp+`
[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "20s"
`)
	res, body := pyDo(t, "GET", srv.URL+"/s/rst.py", "", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<em>hello</em> from docutils") ||
		!strings.Contains(body, "Default cascading style sheet for the HTML output of Docutils") {
		t.Errorf("GET /s/rst.py: got %d %q; want the HTML page with docutils' stylesheet in it", res.StatusCode, body)
	}
}

// TestPythonOwnModules: a folder of the user's own modules, mounted
// read-only by the interpreter and named in its PYTHONPATH, is importable
// from every script, and not writable.
func TestPythonOwnModules(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mylib", "greet.py"), "def hello(name):\n    return 'hello, %s, from my own module' % name\n")
	writeFile(t, filepath.Join(dir, "scripts", "own.py"), `import greet
print("Content-Type: text/plain\n")
print(greet.hello("ada"))
try:
    with open(greet.__file__, "a") as f:
        f.write("# changed by a request\n")
    print("writable")
except OSError as e:
    print("read-only", type(e).__name__)
`)
	interp := strings.Replace(pythonInterpreter(""), `volumes = { `, `volumes = { "/srv/pylib" = `+tomlQuote(filepath.Join(dir, "mylib"))+`, `, 1)
	interp = strings.Replace(interp, `env = { `, `env = { PYTHONPATH = "/srv/pylib", `, 1)
	srv, _ := scriptsSite(t, dir, interp+`
[[route]]
path = "/s/*"
scripts = "scripts"
`)
	res, body := pyDo(t, "GET", srv.URL+"/s/own.py", "", nil)
	if want := "hello, ada, from my own module\nread-only"; res.StatusCode != http.StatusOK || !strings.HasPrefix(body, want) {
		t.Errorf("GET /s/own.py: got %d %q; want 200 starting %q", res.StatusCode, body, want)
	}
}

func tomlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestSamplesIndexListsPython: the sample site's index page links to
// every Python sample of samples/scripts.
func TestSamplesIndexListsPython(t *testing.T) {
	page, err := os.ReadFile(filepath.Join(repoRoot, "samples", "scripts", "index.go"))
	if err != nil {
		t.Fatal(err)
	}
	var samples []string
	for _, pattern := range []string{"*.py", "*.wsgi"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, "samples", "scripts", pattern))
		samples = append(samples, m...)
	}
	if len(samples) < 2 {
		t.Fatalf("samples/scripts: got %d Python samples; want some", len(samples))
	}
	for _, s := range samples {
		if link := `href="/s/` + filepath.Base(s); !bytes.Contains(page, []byte(link)) {
			t.Errorf("samples/scripts/index.go: no %s for %s", link, filepath.Base(s))
		}
	}
}
