package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// editScript prints what the preloaded helper of the scripts folder holds:
// its VALUE and the STAMP its import drew (one per init).
const editScript = `import helper
print("Content-Type: text/plain\n")
print("value=%s" % helper.VALUE)
print("stamp=%s" % helper.STAMP)
`

// helperSource is helper.py with value; STAMP is random per import.
func helperSource(value string) string {
	return fmt.Sprintf("import os\nSTAMP = os.urandom(8).hex()\nVALUE = %q\n", value)
}

// editSite serves the scripts folder dir/scripts with the Python
// interpreter, whose init preloads helper from that folder (PYTHONPATH is
// /cgi-bin), on an engine of its own; closing the returned function
// closes both.
func editSite(t testing.TB, dir string) (base string, logs *logBuffer, stop func()) {
	t.Helper()
	return editSiteMode(t, dir, true)
}

// editSiteMode is editSite, or with watched false an interpreter whose
// init reads nothing in the scripts folder.
func editSiteMode(t testing.TB, dir string, watched bool) (base string, logs *logBuffer, stop func()) {
	t.Helper()
	extra := "env = { PYTHONDONTWRITEBYTECODE = \"1\", PYTHONPATH = \"/cgi-bin\" }\npreload = [\"helper\"]"
	if !watched {
		extra = "env = { PYTHONDONTWRITEBYTECODE = \"1\" }\npreload = [\"json\"]"
	}
	return editSiteWith(t, dir, extra, "")
}

// editSiteWith is editSite with extra as the interpreter's keys and
// route's added to the route's.
func editSiteWith(t testing.TB, dir, extra, route string) (base string, logs *logBuffer, stop func()) {
	t.Helper()
	eng, err := wasi.NewEngine(context.Background(), wasi.Options{CacheDir: linkedCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`
[[interpreter]]
ext = ".py"
module = %q
volumes = { "/usr/local/lib/python3.11" = %q, "/usr/local/lib/python3.11/dist-packages" = %q }
%s

[[route]]
path = "/s/*"
scripts = "scripts"
%s
`, filepath.Join(pythonDist, "python.wasm"), filepath.Join(pythonDist, "lib", "python3.11"), filepath.Join(pythonDist, "site-packages"), extra, route)
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs = &logBuffer{}
	site, err := router.Build(context.Background(), cfg, router.Options{
		Loader: &cgi.Loader{Engine: eng, Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(dir, "builds"), GoCache: testGoCache()}},
		Log:    zerolog.New(logs),
	})
	if err != nil {
		eng.Close(context.Background())
		t.Fatalf("build: %v\nlog: %s", err, logs)
	}
	srv := httptest.NewServer(site.Handler)
	return srv.URL, logs, func() {
		srv.Close()
		eng.Close(context.Background())
	}
}

// editGet asks for target and returns its status and body.
func editGet(t testing.TB, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Minute}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

// editRetakes counts the log's retakes for an edit, taken or failed.
func editRetakes(logs *logBuffer) int {
	return strings.Count(logs.String(), `"reasons":["edited"]`)
}

// TestPythonEditPreloadedHelper: helper.py, which the interpreter's init
// imports from the scripts folder, is edited; the next request answers
// from a snapshot whose init imported the new file. An edit that keeps
// the size and puts the modification time back is seen too (the change
// time and inode are compared); an edit of a file the init did not read
// takes no snapshot; a broken edit answers 500 naming the file, again
// without another init, until the next good edit.
func TestPythonEditPreloadedHelper(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	helper := filepath.Join(scripts, "helper.py")
	writeFile(t, filepath.Join(scripts, "show.py"), editScript)
	writeFile(t, filepath.Join(scripts, "other.py"), "print('Content-Type: text/plain\\n')\nprint('other')\n")
	writeFile(t, helper, helperSource("one"))
	base, logs, stop := editSite(t, dir)
	defer stop()

	get := func(step string) map[string]string {
		t.Helper()
		status, body := editGet(t, base+"/s/show.py")
		if status != 200 {
			t.Fatalf("%s: status %d, body %q; want 200\nlog: %s", step, status, body, logs)
		}
		return oracle(body)
	}
	first := get("first request")
	if first["value"] != "one" || first["stamp"] == "" {
		t.Fatalf("first request: value=%q stamp=%q; want one and a stamp", first["value"], first["stamp"])
	}

	// Files the init did not read: an edit of another script, a new one.
	writeFile(t, filepath.Join(scripts, "other.py"), "print('Content-Type: text/plain\\n')\nprint('other, edited')\n")
	writeFile(t, filepath.Join(scripts, "new.py"), "print('Content-Type: text/plain\\n')\nprint('new')\n")
	if status, body := editGet(t, base+"/s/other.py"); status != 200 || !strings.Contains(body, "other, edited") {
		t.Fatalf("other.py after its edit: %d %q; want 200 with the edit", status, body)
	}
	for range 3 {
		if got := get("after an edit of other.py"); got["stamp"] != first["stamp"] || got["value"] != "one" {
			t.Fatalf("after an edit of a file the init did not read: value=%q stamp=%q; want one %q (the same snapshot)", got["value"], got["stamp"], first["stamp"])
		}
	}
	if n := editRetakes(logs); n != 0 {
		t.Fatalf("%d retakes for an edit after edits of files the init did not read; want 0\nlog: %s", n, logs)
	}

	// An edit of the helper: the next request sees it.
	writeFile(t, helper, helperSource("second"))
	second := get("after an edit of helper.py")
	if second["value"] != "second" || second["stamp"] == first["stamp"] {
		t.Fatalf("the request after an edit of helper.py: value=%q stamp=%q; want second from a new init (not %q)", second["value"], second["stamp"], first["stamp"])
	}
	if n := editRetakes(logs); n != 1 {
		t.Fatalf("%d retakes for an edit; want 1\nlog: %s", n, logs)
	}

	// The same size, the modification time put back.
	fi, err := os.Stat(helper)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, helper, helperSource("sixths"))
	if fi2, _ := os.Stat(helper); fi2.Size() != fi.Size() {
		t.Fatalf("test bug: sizes %d and %d differ", fi.Size(), fi2.Size())
	}
	if err := os.Chtimes(helper, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := get("after a same-size edit"); got["value"] != "sixths" {
		t.Fatalf("after an edit keeping size and modification time: value=%q; want sixths", got["value"])
	}

	// A broken edit: 500 naming the file, each request, from one init.
	writeFile(t, helper, "VALUE = (\n")
	before := editRetakes(logs)
	for i := range 2 {
		status, body := editGet(t, base+"/s/show.py")
		if status != http.StatusInternalServerError || !strings.Contains(body, "scripts/helper.py") {
			t.Fatalf("broken edit, request %d: status %d body %q; want 500 naming scripts/helper.py\nlog: %s", i, status, body, logs)
		}
	}
	if n := editRetakes(logs) - before; n != 1 {
		t.Fatalf("%d inits for two requests after a broken edit; want 1\nlog: %s", n, logs)
	}
	if l := logs.String(); !strings.Contains(l, "SyntaxError") || !strings.Contains(l, `"reason":"load"`) {
		t.Errorf("log lacks the init's SyntaxError or the request's reason load\nlog: %s", l)
	}

	// The next good edit recovers.
	writeFile(t, helper, helperSource("fixed"))
	if got := get("after the fix"); got["value"] != "fixed" {
		t.Fatalf("after the fix: value=%q; want fixed", got["value"])
	}
}

// TestPythonEditConcurrent: requests arriving together after an edit wait
// for one init and all answer with the new file.
func TestPythonEditConcurrent(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	writeFile(t, filepath.Join(scripts, "show.py"), editScript)
	writeFile(t, filepath.Join(scripts, "helper.py"), helperSource("one"))
	base, logs, stop := editSite(t, dir)
	defer stop()
	if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["value"] != "one" {
		t.Fatalf("first request: %d %q; want 200 value=one\nlog: %s", status, body, logs)
	}
	writeFile(t, filepath.Join(scripts, "helper.py"), helperSource("two"))
	var wg sync.WaitGroup
	got := make([]string, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := editGet(t, base+"/s/show.py")
			got[i] = fmt.Sprintf("%d %s", status, oracle(body)["value"])
		}()
	}
	wg.Wait()
	for i, g := range got {
		if g != "200 two" {
			t.Errorf("request %d after the edit: %q; want \"200 two\"", i, g)
		}
	}
	if n := editRetakes(logs); n != 1 {
		t.Errorf("%d inits for 4 concurrent requests after one edit; want 1\nlog: %s", n, logs)
	}
}

// BenchmarkPythonEditCheck is a hello.py request (run with -bench
// PythonEditCheck -benchtime 200x): plain, the interpreter's init reading
// nothing in the scripts folder; watched, its init having imported
// helper.py from there, whose files each request checks.
func BenchmarkPythonEditCheck(b *testing.B) {
	needPython(b)
	for _, mode := range []string{"plain", "watched"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			scripts := filepath.Join(dir, "scripts")
			os.MkdirAll(scripts, 0o755)
			os.WriteFile(filepath.Join(scripts, "hello.py"), []byte("print('Content-Type: text/plain\\n')\nprint('hello')\n"), 0o644)
			os.WriteFile(filepath.Join(scripts, "helper.py"), []byte(helperSource("one")), 0o644)
			base, logs, stop := editSiteMode(b, dir, mode == "watched")
			defer stop()
			c := http.Client{Timeout: time.Minute}
			for b.Loop() {
				res, err := c.Get(base + "/s/hello.py")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("status %d\nlog: %s", res.StatusCode, logs)
				}
			}
		})
	}
}
