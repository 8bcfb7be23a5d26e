package e2e_test

import (
	"context"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi/cgi"
)

// wsgiApps are the test's WSGI applications.
var wsgiTestApps = map[string]string{
	// Module state, randomness, the environment and headers are each
	// request's own: the counter is 1 every time although the import and
	// the warm-ups (which it does not count, but records) ran before the
	// snapshot.
	"state.wsgi": `import os, random, time
loaded = time.time()
count = 0
seen = []
def application(environ, start_response):
    global count
    if environ["SERVER_SOFTWARE"] != "wasigate-warmup":
        count += 1
    seen.append(environ.get("HTTP_X_MARK"))
    if environ.get("PATH_INFO") == "/raise":
        raise RuntimeError("secret-detail 42")
    if environ.get("PATH_INFO") == "/spin":
        while True:
            pass
    body = "count=%d seen=%r random=%r env=%s route=%s input=%r multi=%s/%s/%s scheme=%s\n" % (
        count, seen, random.random(), os.environ.get("HTTP_X_MARK"), os.environ.get("ROUTE_VAR"),
        environ["wsgi.input"].read(), environ["wsgi.multithread"], environ["wsgi.multiprocess"],
        environ["wsgi.run_once"], environ["wsgi.url_scheme"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
`,
	"plain.py": `def make(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"named callable, " + __name__.encode() + b"\n"]
`,
	"broken.wsgi": "import os\nraise ImportError('secret-import 7')\n",
}

// wsgiSite serves wsgiTestApps and the samples' Python files at /s/*.
func wsgiSite(t *testing.T, route string) (string, string, *logBuffer) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pythonDist, "python.wasm")); err != nil {
		if requireToolchains() {
			t.Fatalf("python not installed (bash samples/python/install.sh): %v", err)
		}
		t.Skip("python not installed: bash samples/python/install.sh")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join(repoRoot, "samples", "scripts", "*.wsgi"))
	for _, s := range samples {
		copyFile(t, s, filepath.Join(dir, "scripts", filepath.Base(s)))
	}
	for name, src := range wsgiTestApps {
		writeFile(t, filepath.Join(dir, "scripts", name), src)
	}
	srv, logs := scriptsSite(t, dir, pythonInterpreter(`preload = ["wsgiref.handlers"]`)+`
[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "3s"
env = { ROUTE_VAR = "from-route" }
`+route)
	return srv.URL, filepath.Join(dir, "scripts"), logs
}

// wsgiLoaded waits until the application at url is loaded: a load (which
// compiles the snapshot, seconds on a loaded machine) goes on past a
// request's timeout, answered 503 meanwhile.
func wsgiLoaded(t *testing.T, url string) {
	t.Helper()
	// A connection of its own per poll: a kept-alive one that the server
	// closes as the next poll is sent reads EOF.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		res, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s while its application loads: %v", url, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			return
		}
	}
	t.Fatalf("%s: still loading after 90s", url)
}

func wsgiDo(t *testing.T, method, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestWSGIIsolation: every request starts from the application's snapshot,
// alone and two at once, and after requests that raised or timed out.
func TestWSGIIsolation(t *testing.T) {
	base, _, logs := wsgiSite(t, `warmup = ["/", "/warm"]`)
	wsgiLoaded(t, base+"/s/state.wsgi")
	check := func(mark string) string {
		code, body := wsgiDo(t, "POST", base+"/s/state.wsgi/x", "in-"+mark, map[string]string{"X-Mark": mark})
		if code != 200 {
			t.Fatalf("POST state.wsgi: got %d %q; want 200\nlog:\n%s", code, body, logs)
		}
		want := fmt.Sprintf("count=1 seen=[None, None, '%s']", mark)
		if !strings.HasPrefix(body, want) || !strings.Contains(body, "env="+mark+" route=from-route input=b'in-"+mark+"' multi=False/True/False scheme=http") {
			t.Fatalf("got %q; want it to start with %q and show this request's env and input", body, want)
		}
		return body[strings.Index(body, "random="):strings.Index(body, " env=")]
	}
	first, second := check("a"), check("b")
	if first == second {
		t.Errorf("random: got %s twice; want each request reseeded", first)
	}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); check(fmt.Sprintf("c%d", i)) }()
	}
	wg.Wait()
	if code, body := wsgiDo(t, "GET", base+"/s/state.wsgi/raise", "", nil); code != 500 || strings.Contains(body, "secret-detail") {
		t.Errorf("raise: got %d %q; want 500 without the detail", code, body)
	}
	if !strings.Contains(logs.String(), "secret-detail 42") {
		t.Errorf("raise: the traceback is not in the log:\n%s", logs)
	}
	check("after-raise")
	start := time.Now()
	if code, _ := wsgiDo(t, "GET", base+"/s/state.wsgi/spin", "", nil); code != 504 {
		t.Errorf("spin: got %d; want 504", code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("spin: took %v; want the 3s timeout", d)
	}
	check("after-timeout")
}

// TestWSGICallableAndLoad: wsgi = "file.py:name" serves a named callable
// of a module (not __main__); an application that raises at import
// answers 500 "load" with the traceback logged, and is loaded again once
// its file changes.
func TestWSGICallableAndLoad(t *testing.T) {
	base, scripts, logs := wsgiSite(t, `wsgi = "plain.py:make"`)
	wsgiLoaded(t, base+"/s/plain.py")
	wsgiLoaded(t, base+"/s/broken.wsgi")
	if code, body := wsgiDo(t, "GET", base+"/s/plain.py", "", nil); code != 200 || body != "named callable, plain\n" {
		t.Errorf("plain.py: got %d %q; want 200 %q", code, body, "named callable, plain\n")
	}
	code, body := wsgiDo(t, "GET", base+"/s/broken.wsgi", "", nil)
	if code != 500 || strings.Contains(body, "secret-import") {
		t.Errorf("broken.wsgi: got %d %q; want 500 without the traceback", code, body)
	}
	if l := logs.String(); !strings.Contains(l, "secret-import 7") || !strings.Contains(l, `broken.wsgi\\\", line 2`) || !strings.Contains(l, `"reason":"load"`) {
		t.Errorf("broken.wsgi: want the traceback and reason load in the log:\n%s", l)
	}
	// Fixed: the next request loads it again.
	time.Sleep(20 * time.Millisecond) // a distinct modification time
	writeFile(t, filepath.Join(scripts, "broken.wsgi"), `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fixed\n"]
`)
	wsgiLoaded(t, base+"/s/broken.wsgi")
	if code, body := wsgiDo(t, "GET", base+"/s/broken.wsgi", "", nil); code != 200 || body != "fixed\n" {
		t.Errorf("broken.wsgi fixed: got %d %q; want 200 %q", code, body, "fixed\n")
	}
	// A module it imports from the folder changes: loaded again too.
	writeFile(t, filepath.Join(scripts, "helper.py"), "WORD = 'one'\n")
	writeFile(t, filepath.Join(scripts, "uses.wsgi"), `import helper
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.WORD.encode()]
`)
	wsgiLoaded(t, base+"/s/uses.wsgi")
	if _, body := wsgiDo(t, "GET", base+"/s/uses.wsgi", "", nil); body != "one" {
		t.Errorf("uses.wsgi: got %q; want %q", body, "one")
	}
	time.Sleep(20 * time.Millisecond)
	writeFile(t, filepath.Join(scripts, "helper.py"), "WORD = 'two'\n")
	wsgiLoaded(t, base+"/s/uses.wsgi")
	if _, body := wsgiDo(t, "GET", base+"/s/uses.wsgi", "", nil); body != "two" {
		t.Errorf("uses.wsgi after helper.py changed: got %q; want %q", body, "two")
	}
}

// TestWSGIRoutes: a route that is one application, by module = "x.wsgi"
// or by wsgi = "dir/x.py:name" alone; all its paths are the application's.
func TestWSGIRoutes(t *testing.T) {
	base, _, logs := wsgiSite(t, `
[[route]]
path = "/one/*"
module = "scripts/hello.wsgi"

[[route]]
path = "/named"
wsgi = "scripts/plain.py:make"
`)
	wsgiLoaded(t, base+"/one/")
	if code, body := wsgiDo(t, "GET", base+"/one/ada", "", nil); code != 200 || body != "hello, ada, from WSGI (GET http)\n" {
		t.Errorf("/one/ada: got %d %q; want 200 %q\nlog:\n%s", code, body, "hello, ada, from WSGI (GET http)\n", logs)
	}
	wsgiLoaded(t, base+"/named")
	if code, body := wsgiDo(t, "GET", base+"/named", "", nil); code != 200 || body != "named callable, plain\n" {
		t.Errorf("/named: got %d %q; want 200 %q\nlog:\n%s", code, body, "named callable, plain\n", logs)
	}
}

// TestWSGIConfigProblems: misplaced wsgi and warmup keys fail the start,
// naming the route and the fix.
func TestWSGIConfigProblems(t *testing.T) {
	for _, c := range []struct{ name, route, want string }{
		{"no callable", `path = "/s/*"
scripts = "s"
wsgi = "app.py"`, "must be FILE.py:CALLABLE"},
		{"not an identifier", `path = "/s/*"
scripts = "s"
wsgi = "app.py:1x"`, "must be FILE.py:CALLABLE"},
		{"path in a folder's key", `path = "/s/*"
scripts = "s"
wsgi = "sub/app.py:app"`, "a .py file of the scripts folder itself"},
		{"with a module", `path = "/x"
module = "a.wasm"
wsgi = "app.py:app"`, "applies to a scripts route"},
		{"warmup on a module", `path = "/x"
module = "a.wasm"
warmup = ["/"]`, "warmup applies to a scripts route"},
		{"warmup not a path", `path = "/s/*"
scripts = "s"
warmup = ["x y"]`, "must be a path starting with /"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := router.ParseConfig(strings.NewReader("[[route]]\n"+c.route+"\n"), "test.toml")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "route #1") {
				t.Errorf("got %v; want an error naming route #1 and %q", err, c.want)
			}
		})
	}
}

// TestWSGIDjango: the Django sample (samples/django) as an application
// route with a warm-up, its sqlite3 database on a writable volume: the
// count of visits grows (the database is the volume's), while memory
// starts afresh in each request.
func TestWSGIDjango(t *testing.T) {
	if _, err := os.Stat(filepath.Join(pythonDist, "site-packages", "django")); err != nil {
		t.Skip("django not installed: bash samples/python/install.sh")
	}
	zoneinfo := filepath.Join(pythonDist, "zoneinfo")
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "django"), os.DirFS(filepath.Join(repoRoot, "samples", "django"))); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv, logs := scriptsSite(t, dir, pythonInterpreter("")+`
[[route]]
path = "/django/*"
module = "django/django.wsgi"
warmup = ["/warm"]
volumes = { "/data" = { path = "data", writable = true }, "/usr/share/zoneinfo" = "`+zoneinfo+`" }
timeout = "5s"
`)
	wsgiLoaded(t, srv.URL+"/django/ada")
	if code, body := wsgiDo(t, "GET", srv.URL+"/django/ada", "", nil); code != 200 || body != "hello, ada, from Django\n" {
		t.Errorf("GET /django/ada: got %d %q; want 200 %q\nlog:\n%s", code, body, "hello, ada, from Django\n", logs)
	}
	for i := range 2 {
		code, body := wsgiDo(t, "GET", srv.URL+"/django/", "", nil)
		want := fmt.Sprintf("hello, visitor, from Django; visit %d\n", i+1)
		if code != 200 || body != want {
			t.Errorf("GET /django/: got %d %q; want 200 %q\nlog:\n%s", code, body, want, logs)
		}
	}
}

// TestWSGIRouteWithoutPython: an application route on a site with no
// Python interpreter fails the start, naming the route and the fix.
func TestWSGIRouteWithoutPython(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app", "a.wsgi"), "def application(e, s):\n    pass\n")
	cfg, err := router.ParseConfig(strings.NewReader("[[route]]\npath = \"/a/*\"\nmodule = \"app/a.wsgi\"\n"), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	_, err = router.Build(context.Background(), cfg, router.Options{Loader: &cgi.Loader{Engine: scriptsEngine(t)}, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "/a/*") || !strings.Contains(err.Error(), `ext = ".py"`) {
		t.Errorf("got %v; want an error naming route /a/* and the .py interpreter", err)
	}
}
