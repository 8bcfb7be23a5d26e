package router

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
)

// Scripts routing on the fake loader: which URL reaches which script,
// folders and static files, and how requests meet builds (shared, slow,
// failing, prebuilt). The end-to-end versions (router/e2e/scripts_test.go,
// scripts_folder_test.go) serve real sources built by real toolchains.

// infoTpl is a script for the test interpreter (tpl.wasm's fake).
const infoTpl = "Content-Type: text/plain\n\nSCRIPT_NAME=${SCRIPT_NAME} PATH_INFO=${PATH_INFO} argv1=${1}\n"

// scriptsConfig serves dir/scripts at /s/* with the test interpreter for
// .tpl, and an optional .rb interpreter that is not installed.
func scriptsConfig(dir, extra string) string {
	return fmt.Sprintf(`
[[interpreter]]
ext = ".tpl"
module = %q

[[interpreter]]
ext = ".rb"
module = %q
install = "npm install --prefix samples/ruby"
optional = true

[[route]]
path = "/s/*"
scripts = "scripts"
%s
`, guest("tpl.wasm"), filepath.Join(dir, "no-ruby.wasm"), extra)
}

// scriptsSite serves the configuration on a fake loader, logging the
// snapshots as serve does at start, and returns the loader too.
func scriptsSite(t testing.TB, dir, config string) (*httptest.Server, *logBuffer, *fakeLoader, *Site) {
	t.Helper()
	logs := &logBuffer{}
	l := &fakeLoader{}
	cfg, site := buildSite(t, dir, config, logs, func(o *Options) { o.Loader = l })
	LogSnapshots(zerolog.New(logs), site.Routes)
	srv := httptest.NewUnstartedServer(site.Handler)
	srv.Config = NewServer(cfg.Server, site.Handler)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, logs, l, site
}

// TestScriptsNames: which URLs reach which scripts.
func TestScriptsNames(t *testing.T) {
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	writeFile(t, filepath.Join(scripts, "info.tpl"), infoTpl)
	writeFakeGuest(t, filepath.Join(scripts, "hello.wasm"), writes("hello\n"))
	writeFile(t, filepath.Join(scripts, "dup.tpl"), "Content-Type: text/plain\n\ndup.tpl\n")
	writeFakeGuest(t, filepath.Join(scripts, "dup.wasm"), writes("dup.wasm\n"))
	writeFile(t, filepath.Join(scripts, ".hidden.tpl"), "Content-Type: text/plain\n\nhidden\n")
	writeFile(t, filepath.Join(scripts, "notes.txt"), "not a script")
	writeFile(t, filepath.Join(scripts, "sub", "inner.tpl"), "Content-Type: text/plain\n\ninner\n")
	writeFile(t, filepath.Join(scripts, "blog", "2024", "post.tpl"), infoTpl)
	writeFile(t, filepath.Join(scripts, ".private", "x.tpl"), "Content-Type: text/plain\n\nprivate\n")
	writeFile(t, filepath.Join(dir, "outside", "secret.tpl"), "Content-Type: text/plain\n\nsecret\n")
	for link, target := range map[string]string{"out.tpl": "../outside/secret.tpl", "alias.tpl": "info.tpl", "outdir": "../outside"} {
		if err := os.Symlink(target, filepath.Join(scripts, link)); err != nil {
			t.Fatal(err)
		}
	}
	srv, logs, _, _ := scriptsSite(t, dir, scriptsConfig(dir, ""))

	tests := []struct {
		name, target string
		status       int
		want         string // body, or a part of it for errors
	}{
		{"name with ext", "/s/info.tpl", 200, "SCRIPT_NAME=/s/info.tpl PATH_INFO= argv1=/cgi-bin/info.tpl\n"},
		{"name without ext", "/s/info", 200, "SCRIPT_NAME=/s/info PATH_INFO= argv1=/cgi-bin/info.tpl\n"},
		{"path info", "/s/info.tpl/a/b", 200, "SCRIPT_NAME=/s/info.tpl PATH_INFO=/a/b argv1=/cgi-bin/info.tpl\n"},
		{"path info without ext", "/s/info/a%20b/", 200, "SCRIPT_NAME=/s/info PATH_INFO=/a b/ argv1=/cgi-bin/info.tpl\n"},
		{"query", "/s/info?x=1", 200, "SCRIPT_NAME=/s/info PATH_INFO= argv1=/cgi-bin/info.tpl\n"},
		{"wasm", "/s/hello", 200, "hello\n"},
		{"wasm with ext", "/s/hello.wasm/x", 200, "hello\n"},
		{"ambiguous", "/s/dup", 404, "dup.tpl, dup.wasm"},
		{"ambiguous with ext", "/s/dup.tpl", 200, "dup.tpl\n"},
		{"ambiguous with the other ext", "/s/dup.wasm", 200, "dup.wasm\n"},
		{"hidden", "/s/.hidden.tpl", 404, "404"},
		{"hidden without ext", "/s/.hidden", 404, "404"},
		{"not a script", "/s/notes.txt", 404, "404"},
		{"not a script without ext", "/s/notes", 404, "404"},
		{"unknown", "/s/nothing", 404, "404"},
		{"dot dot", "/s/../test.toml", 404, "404"},
		{"dot dot into a script", "/s/../scripts/info.tpl", 404, "404"},
		{"encoded dot dot", "/s/%2e%2e/test.toml", 404, "404"},
		{"encoded slash", "/s/sub%2Finner.tpl", 404, "404"},
		{"encoded backslash", "/s/sub%5Cinner.tpl", 404, "404"},
		{"sub folder", "/s/sub/inner.tpl", 200, "inner\n"},
		{"nested path info", "/s/blog/2024/post.tpl/extra/x", 200, "SCRIPT_NAME=/s/blog/2024/post.tpl PATH_INFO=/extra/x argv1=/cgi-bin/blog/2024/post.tpl\n"},
		{"nested without ext", "/s/blog/2024/post/x", 200, "SCRIPT_NAME=/s/blog/2024/post PATH_INFO=/x argv1=/cgi-bin/blog/2024/post.tpl\n"},
		{"nested unknown", "/s/blog/2024/nothing.tpl", 404, "404"},
		{"nested encoded slash", "/s/blog%2F2024/post.tpl", 404, "404"},
		{"nested dot dot", "/s/blog/../info.tpl", 404, "404"},
		{"hidden folder", "/s/.private/x.tpl", 404, "404"},
		{"symlink out", "/s/out.tpl", 404, "404"},
		{"symlink to a folder out", "/s/outdir/secret.tpl", 404, "404"},
		{"symlink in", "/s/alias.tpl", 200, "SCRIPT_NAME=/s/alias.tpl PATH_INFO= argv1=/cgi-bin/alias.tpl\n"},
		{"folder itself", "/s/", 404, "404"},
		{"route root", "/s", 404, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := doRaw(t, "GET", srv.URL, tt.target, "", nil)
			if res.StatusCode != tt.status {
				t.Fatalf("%s: got status %d (%q); want %d", tt.target, res.StatusCode, body, tt.status)
			}
			if (tt.status == 200 && body != tt.want) || (tt.status != 200 && !strings.Contains(body, tt.want)) {
				t.Errorf("%s: got body %q; want %q", tt.target, body, tt.want)
			}
			if strings.Contains(body, "secret") || strings.Contains(body, "private") {
				t.Errorf("%s: got body %q; want nothing from outside or hidden", tt.target, body)
			}
		})
	}
	if !strings.Contains(logs.String(), `"reason":"no script"`) {
		t.Errorf("404s are not logged with their reason: %s", logs)
	}
}

// TestScriptsMissingInterpreter: a script whose optional interpreter is
// not installed answers 500 naming what to install, in the body and in
// its request's one event; the folder's other scripts still run.
func TestScriptsMissingInterpreter(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "hello.rb"), "puts 1\n")
	writeFile(t, filepath.Join(dir, "scripts", "info.tpl"), infoTpl)
	srv, logs, _, _ := scriptsSite(t, dir, scriptsConfig(dir, ""))
	want := "no interpreter for .rb scripts: " + filepath.Join(dir, "no-ruby.wasm") + " is not installed (install it with: npm install --prefix samples/ruby)"
	res, body := get(t, srv.URL+"/s/hello.rb")
	if res.StatusCode != 500 || !strings.Contains(body, want) {
		t.Errorf("got %d %q; want 500 naming %q", res.StatusCode, body, want)
	}
	// One event: the request's, with the reason and the error.
	evs := requestEvents(t, logs, res.Header.Get("X-Request-Id"))
	if len(evs) != 1 || !strings.Contains(evs[0].str("error"), want) || evs[0].str("reason") != "toolchain" ||
		evs[0].str("module") != "scripts/hello.rb" {
		t.Errorf("got events %v; want one: the request with reason toolchain and the error, naming scripts/hello.rb", evs)
	}
	if !strings.Contains(logs.String(), "interpreter not installed: its scripts will answer 500") {
		t.Errorf("no start warning for the missing interpreter: %s", logs)
	}
	if res, body := get(t, srv.URL+"/s/info"); res.StatusCode != 200 {
		t.Errorf("/s/info: got %d %q; want 200", res.StatusCode, body)
	}
}

// TestScriptsEdit: an edited script is built again on its next request,
// without a restart; an unchanged one is not.
func TestScriptsEdit(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "scripts", "edit.wasm")
	writeFakeGuest(t, src, writes("first\n"))
	srv, logs, l, _ := scriptsSite(t, dir, scriptsConfig(dir, ""))
	for i, word := range []string{"first", "second edit", "third"} {
		if i > 0 {
			writeFakeGuest(t, src, writes(word+"\n"))
			mt := time.Now().Add(time.Duration(i) * time.Second) // as an editor's save
			if err := os.Chtimes(src, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		res, body := get(t, srv.URL+"/s/edit")
		if res.StatusCode != 200 || body != word+"\n" {
			t.Fatalf("after edit %d: got %d %q; want 200 %q\nlog: %s", i, res.StatusCode, body, word+"\n", logs)
		}
	}
	get(t, srv.URL+"/s/edit")
	if n, b := strings.Count(logs.String(), `"message":"script built"`), l.builds.Load(); n != 3 || b != 3 {
		t.Errorf("got %d \"script built\" events and %d builds for 3 versions and 4 requests; want 3 and 3\nlog: %s", n, b, logs)
	}
}

// TestScriptsBuildErrors: a failed build answers 500; the compiler's
// output is logged always, with the module and the request id, and shown
// only with show_build_errors; the second request gets the kept failure.
func TestScriptsBuildErrors(t *testing.T) {
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprint("show=", show), func(t *testing.T) {
			dir := t.TempDir()
			writeFakeGuest(t, filepath.Join(dir, "scripts", "broken.wasm"), `build-fail "broken.go:3: undefined: undefinedThing"`)
			srv, logs, l, _ := scriptsSite(t, dir, scriptsConfig(dir, fmt.Sprintf("show_build_errors = %v", show)))
			for range 2 {
				res, body := get(t, srv.URL+"/s/broken")
				if res.StatusCode != 500 || !strings.HasPrefix(body, "500 Internal Server Error: the script could not be built") {
					t.Fatalf("got %d %q; want 500 \"the script could not be built\"", res.StatusCode, body)
				}
				if got := strings.Contains(body, "undefined: undefinedThing"); got != show {
					t.Errorf("body %q shows the compiler's output: %v; want %v", body, got, show)
				}
				evs := requestEvents(t, logs, res.Header.Get("X-Request-Id"))
				if len(evs) != 1 || !strings.Contains(evs[0].str("error"), "undefined: undefinedThing") ||
					evs[0].str("module") != "scripts/broken.wasm" || evs[0].str("reason") != "build" {
					t.Errorf("got events %v; want one: the request with reason build, its module and the compiler's output", evs)
				}
			}
			if b := l.builds.Load(); b != 1 {
				t.Errorf("got %d builds for 2 requests of an unchanged broken script; want 1", b)
			}
			if strings.Contains(logs.String(), `"script built"`) {
				t.Errorf("a broken script was reported built: %s", logs)
			}
		})
	}
}

// TestScriptsConcurrentBuild: requests that arrive while a script builds
// share that one build, and other scripts are served meanwhile.
func TestScriptsConcurrentBuild(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "info.tpl"), infoTpl)
	writeFakeGuest(t, filepath.Join(dir, "scripts", "slow.wasm"), "build-delay 1s", writes("built once\n"))
	srv, logs, l, _ := scriptsSite(t, dir, scriptsConfig(dir, `timeout = "20s"`))

	const n = 6
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(srv.URL + "/s/slow")
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "built once\n" {
				errs <- fmt.Sprintf("got %d %q", res.StatusCode, b)
			}
		}()
	}
	for l.builds.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if res, body := get(t, srv.URL+"/s/info"); res.StatusCode != 200 {
		t.Fatalf("/s/info during a build: got %d %q; want 200", res.StatusCode, body)
	}
	if strings.Contains(logs.String(), `"script built"`) {
		t.Errorf("/s/info waited for slow.wasm's build")
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("/s/slow: %s", e)
	}
	if got := strings.Count(logs.String(), `"message":"script built"`); got != 1 || l.builds.Load() != 1 {
		t.Errorf("got %d \"script built\" events, %d builds for %d concurrent requests; want 1 and 1\nlog: %s", got, l.builds.Load(), n, logs)
	}
}

// TestScriptsStillBuilding: a request whose timeout passes while its
// script builds gets 503 with Retry-After and the reason "building"; the
// build goes on, and a later request is served by it.
func TestScriptsStillBuilding(t *testing.T) {
	dir := t.TempDir()
	writeFakeGuest(t, filepath.Join(dir, "scripts", "slow.wasm"), "build-delay 600ms", writes("built\n"))
	srv, logs, l, _ := scriptsSite(t, dir, scriptsConfig(dir, `timeout = "100ms"`))
	start := time.Now()
	res, body := get(t, srv.URL+"/s/slow")
	if took := time.Since(start); res.StatusCode != 503 || res.Header.Get("Retry-After") != "5" || !strings.Contains(body, "still building") || took > 500*time.Millisecond {
		t.Fatalf("got %d Retry-After %q %q after %v; want 503 Retry-After 5 \"still building\" within the route's timeout",
			res.StatusCode, res.Header.Get("Retry-After"), body, took)
	}
	evs := requestEvents(t, logs, res.Header.Get("X-Request-Id"))
	if len(evs) != 1 || evs[0].str("reason") != "building" || !strings.Contains(evs[0].str("error"), "still building") || evs[0].str("module") != "scripts/slow.wasm" {
		t.Errorf("got events %v; want one with reason building, the module and the error", evs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"script built"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if res, body := get(t, srv.URL+"/s/slow"); res.StatusCode != 200 || body != "built\n" || l.builds.Load() != 1 {
		t.Errorf("after the build: got %d %q, %d builds; want 200 \"built\\n\" from the one build", res.StatusCode, body, l.builds.Load())
	}
}

// TestScriptsPrebuild: Site.Prebuild builds the folder's scripts before
// any request, skipping interpreted ones and logging the ones that fail;
// a prebuilt script is not built again on its first request.
func TestScriptsPrebuild(t *testing.T) {
	dir := t.TempDir()
	writeFakeGuest(t, filepath.Join(dir, "scripts", "hello.wasm"), writes("prebuilt\n"))
	writeFakeGuest(t, filepath.Join(dir, "scripts", "broken.wasm"), `build-fail "no main"`)
	writeFile(t, filepath.Join(dir, "scripts", "info.tpl"), infoTpl)
	writeFile(t, filepath.Join(dir, "scripts", "notes.txt"), "not a script\n")
	srv, logs, l, site := scriptsSite(t, dir, scriptsConfig(dir, ""))
	site.Prebuild(context.Background())
	if got := strings.Count(logs.String(), `"message":"script built"`); got != 1 || l.builds.Load() != 2 {
		t.Fatalf("got %d scripts built, %d builds by Prebuild; want 1 (hello.wasm) of 2 (and broken.wasm)\nlog: %s", got, l.builds.Load(), logs)
	}
	var warned bool
	for _, e := range parseEvents(t, logs) {
		warned = warned || (e.str("message") == "prebuild: script failed to build" && e.str("module") == "scripts/broken.wasm" && strings.Contains(e.str("error"), "no main"))
	}
	if !warned {
		t.Errorf("no prebuild warning naming scripts/broken.wasm and its error:\n%s", logs)
	}
	if res, body := get(t, srv.URL+"/s/hello/x"); res.StatusCode != 200 || body != "prebuilt\n" {
		t.Errorf("got %d %q; want 200 \"prebuilt\\n\"", res.StatusCode, body)
	}
	if l.builds.Load() != 2 {
		t.Errorf("a prebuilt script was built again on its first request (%d builds)", l.builds.Load())
	}
}

// TestScriptsBuiltSnapshot: each build's event says whether the script's
// instances start from a snapshot: an info event when they do or the
// route turned it off, a warning naming the reason when it was refused.
func TestScriptsBuiltSnapshot(t *testing.T) {
	tests := []struct {
		name, directive, extra string
		level, snapshot        string
	}{
		{"taken", "snapshot on", "", "info", "snapshot: 64 KiB image mapped copy-on-write, init 1ms"},
		{"refused", `snapshot refused "no snapshot: imports a clock"`, "", "warn", "no snapshot: imports a clock"},
		{"turned off by the route", "snapshot on", "snapshot = false", "info", "snapshot turned off"},
		{"no init", "", "", "info", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFakeGuest(t, filepath.Join(dir, "scripts", "app.wasm"), tt.directive, writes("app\n"))
			srv, logs, _, _ := scriptsSite(t, dir, scriptsConfig(dir, tt.extra))
			if res, body := get(t, srv.URL+"/s/app"); res.StatusCode != 200 || body != "app\n" {
				t.Fatalf("got %d %q; want 200 \"app\\n\"", res.StatusCode, body)
			}
			var built []event
			for _, e := range parseEvents(t, logs) {
				if e.str("message") == "script built" {
					built = append(built, e)
				}
			}
			if len(built) != 1 || built[0].str("level") != tt.level || built[0].str("snapshot") != tt.snapshot ||
				built[0].str("module") != "scripts/app.wasm" || built[0].str("route") != "/s/*" {
				t.Errorf("got built events %v; want one at %s with snapshot %q, module scripts/app.wasm, route /s/*", built, tt.level, tt.snapshot)
			}
		})
	}
}
