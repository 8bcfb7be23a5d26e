package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// Sources of the scripts the tests serve, written into a temporary folder.
var scriptSources = map[string]string{
	"hello.go": `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Print("Content-Type: text/plain\n\n")
	fmt.Printf("go %s %s\n", os.Getenv("SCRIPT_NAME"), os.Getenv("PATH_INFO"))
}
`,
	"hello.c": `#include <stdio.h>
#include <stdlib.h>
int main(void) {
    printf("Content-Type: text/plain\n\nc %s %s\n", getenv("SCRIPT_NAME"), getenv("PATH_INFO"));
    return 0;
}
`,
	"hello.rs": `use std::env;
fn main() {
    print!("Content-Type: text/plain\n\n");
    println!("rust {} {}", env::var("SCRIPT_NAME").unwrap_or_default(), env::var("PATH_INFO").unwrap_or_default());
}
`,
	"hello.wat": `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\n\nwat\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 30))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
`,
	"app/main.go": `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Print("Content-Type: text/plain\n\n")
	fmt.Printf("go folder %s %s\n", os.Getenv("SCRIPT_NAME"), os.Getenv("PATH_INFO"))
}
`,
	"app/go.mod": "module app\n\ngo 1.24\n",
	// A CGI script in Ruby: form fields from stdin, a cookie in and out.
	"hello.rb": `require "cgi"
cgi = CGI.new
visits = (cgi.cookies["visits"].first || "0").to_i + 1
print cgi.header("type" => "text/plain", "cookie" => [CGI::Cookie.new("name" => "visits", "value" => visits.to_s)])
puts "ruby #{ENV["SCRIPT_NAME"]} #{ENV["PATH_INFO"]} name=#{cgi["name"]} visits=#{visits} argv=#{$0}"
`,
	// For the command-style test interpreter (testdata/guests/tpl.c).
	"info.tpl": "Content-Type: text/plain\n\nSCRIPT_NAME=${SCRIPT_NAME} PATH_INFO=${PATH_INFO} argv1=${1}\n",
}

// writeScripts writes the named sources (all when none are named) into dir.
func writeScripts(t *testing.T, dir string, names ...string) {
	t.Helper()
	if len(names) == 0 {
		for n := range scriptSources {
			names = append(names, n)
		}
	}
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), scriptSources[n])
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies a file, such as a committed test guest, into dir.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rubyWasm is where `npm install --prefix samples/ruby` puts ruby.wasm.
var rubyWasm = filepath.Join(repoRoot, "samples", "ruby", "node_modules", "@ruby", "3.4-wasm-wasi", "dist", "ruby+stdlib.wasm")

// requireToolchains reports whether a missing toolchain fails a test
// rather than skipping it.
func requireToolchains() bool { return os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" }

// skipMissing skips (or fails, under WASIGATE_REQUIRE_TOOLCHAINS) a test
// whose response says a toolchain is missing.
func skipMissing(t *testing.T, status int, body string) {
	t.Helper()
	if status == http.StatusInternalServerError && (strings.Contains(body, "apt-get install") || strings.Contains(body, "npm install")) {
		if requireToolchains() {
			t.Fatalf("toolchain missing: %s", body)
		}
		t.Skipf("toolchain missing: %s", body)
	}
}

var (
	scriptEngineOnce sync.Once
	scriptEngine     *wasi.Engine
	scriptEngineErr  error
)

// scriptsEngine is an engine whose compilation cache outlives the test
// run (under the user's cache folder), with every core compiling: ruby.wasm
// takes seconds to compile and a fraction of one to load from the cache.
func scriptsEngine(t testing.TB) *wasi.Engine {
	scriptEngineOnce.Do(func() {
		scriptEngine, scriptEngineErr = wasi.NewEngine(context.Background(), wasi.Options{
			CacheDir:           filepath.Join(wasi.DefaultCacheDir(), "test"),
			CompilationWorkers: runtime.NumCPU(),
		})
	})
	if scriptEngineErr != nil {
		t.Fatal(scriptEngineErr)
	}
	return scriptEngine
}

// scriptsSite serves a configuration like testSite, on the scripts engine.
func scriptsSite(t testing.TB, dir, config string) (*httptest.Server, *logBuffer) {
	t.Helper()
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	eng := scriptsEngine(t)
	logs := &logBuffer{}
	site, err := router.Build(context.Background(), cfg, router.Options{
		Loader: &cgi.Loader{Engine: eng, Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(t.TempDir(), "builds"), GoCache: testGoCache()}},
		Log:    zerolog.New(logs),
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	router.LogSnapshots(zerolog.New(logs), site.Routes) // as serve does at start
	srv := httptest.NewServer(site.Handler)
	t.Cleanup(srv.Close)
	return srv, logs
}

// scriptsConfig serves dir/scripts at /s/* with the test interpreter for
// .tpl and ruby.wasm for .rb.
func scriptsConfig(extra string) string {
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
`, guest("tpl.wasm"), rubyWasm, extra)
}

// doRaw sends a request with a raw target (not cleaned by the client).
func doRaw(t *testing.T, method, base, target string, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = target
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return res, string(b)
}

// TestScriptsLanguages serves a Go file, a Go folder, C, WAT, Rust, Ruby
// and a command-style interpreter's script from one folder.
func TestScriptsLanguages(t *testing.T) {
	dir := t.TempDir()
	writeScripts(t, filepath.Join(dir, "scripts"))
	srv, logs := scriptsSite(t, dir, scriptsConfig(""))

	tests := []struct {
		name, method, target, body string
		header                     http.Header
		want                       string
		wantCookie                 string
	}{
		{name: "go", target: "/s/hello.go/extra", want: "go /s/hello.go /extra\n"},
		{name: "go folder", target: "/s/app/x/y", want: "go folder /s/app /x/y\n"},
		{name: "c", target: "/s/hello.c/extra", want: "c /s/hello.c /extra\n"},
		{name: "wat", target: "/s/hello.wat", want: "wat\n"},
		{name: "rust", target: "/s/hello.rs/extra", want: "rust /s/hello.rs /extra\n"},
		{name: "interpreter", target: "/s/info/p", want: "SCRIPT_NAME=/s/info PATH_INFO=/p argv1=/cgi-bin/info.tpl\n"},
		{name: "ruby", method: "POST", target: "/s/hello.rb/extra", body: "name=Ada+L",
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {"visits=2"}},
			want:   "ruby /s/hello.rb /extra name=Ada L visits=3 argv=/cgi-bin/hello.rb\n", wantCookie: "visits=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "ruby" {
				needRuby(t)
			}
			method := tt.method
			if method == "" {
				method = "GET"
			}
			res, body := doRaw(t, method, srv.URL, tt.target, tt.body, tt.header)
			skipMissing(t, res.StatusCode, body)
			if res.StatusCode != 200 || body != tt.want {
				t.Fatalf("%s: got %d %q; want 200 %q\nlog: %s", tt.target, res.StatusCode, body, tt.want, logs)
			}
			if tt.wantCookie != "" && !strings.Contains(res.Header.Get("Set-Cookie"), tt.wantCookie) {
				t.Errorf("Set-Cookie = %q; want it to contain %q", res.Header.Get("Set-Cookie"), tt.wantCookie)
			}
		})
	}
}

// TestScriptsEdit: an edited script is rebuilt on the next request,
// without a restart.
func TestScriptsEdit(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "scripts", "edit.go")
	prog := func(word string) string {
		return "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Print(\"Content-Type: text/plain\\n\\n" + word + "\\n\") }\n"
	}
	writeFile(t, src, prog("first"))
	srv, logs := scriptsSite(t, dir, scriptsConfig(""))
	for i, word := range []string{"first", "second edit", "third"} {
		if i > 0 {
			writeFile(t, src, prog(word))
		}
		res, body := get(t, srv.URL+"/s/edit")
		if res.StatusCode != 200 || body != word+"\n" {
			t.Fatalf("after edit %d: got %d %q; want 200 %q\nlog: %s", i, res.StatusCode, body, word+"\n", logs)
		}
	}
	// An unchanged script is not built again.
	get(t, srv.URL+"/s/edit")
	if n := strings.Count(logs.String(), `"message":"script built"`); n != 3 {
		t.Errorf("%d builds for 3 versions and 4 requests; want 3\nlog: %s", n, logs)
	}
}

// TestScriptsBuildErrors: the compiler's output is logged always and shown
// only with show_build_errors.
func TestScriptsBuildErrors(t *testing.T) {
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprint("show=", show), func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "scripts", "broken.go"), "package main\n\nfunc main() { undefinedThing() }\n")
			srv, logs := scriptsSite(t, dir, scriptsConfig(fmt.Sprintf("show_build_errors = %v", show)))
			for range 2 { // the second answer comes from the failure cache
				res, body := get(t, srv.URL+"/s/broken")
				if res.StatusCode != 500 {
					t.Fatalf("status %d; want 500", res.StatusCode)
				}
				if got := strings.Contains(body, "undefined: undefinedThing"); got != show {
					t.Errorf("body %q shows the compiler's error: %v; want %v", body, got, show)
				}
			}
			l := logs.String()
			if !strings.Contains(l, "undefined: undefinedThing") || !strings.Contains(l, `"module":"scripts/broken.go"`) || !strings.Contains(l, `"request_id"`) {
				t.Errorf("log lacks the compiler's output, module or request id: %s", l)
			}
			if strings.Contains(l, `"script built"`) {
				t.Errorf("a broken script was reported built: %s", l)
			}
		})
	}
}

// TestScriptsMissingToolchain: a missing compiler or interpreter gives a
// 500 naming what to install, for those scripts only.
func TestScriptsMissingToolchain(t *testing.T) {
	dir := t.TempDir()
	writeScripts(t, filepath.Join(dir, "scripts"), "hello.c", "hello.wat", "hello.rb", "info.tpl")
	config := strings.Replace(scriptsConfig(""), rubyWasm, filepath.Join(dir, "no-ruby.wasm"), 1)
	srv, logs := scriptsSite(t, dir, config)
	t.Setenv("PATH", t.TempDir()) // clang and wat2wasm are looked up on PATH

	tests := []struct{ target, want string }{
		{"/s/hello.c", "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"},
		{"/s/hello.wat", "apt-get install wabt"},
		{"/s/hello.rb", "no interpreter for .rb scripts: " + filepath.Join(dir, "no-ruby.wasm") + " is not installed (install it with: npm install --prefix samples/ruby)"},
	}
	for _, tt := range tests {
		res, body := get(t, srv.URL+tt.target)
		if res.StatusCode != 500 || !strings.Contains(body, tt.want) {
			t.Errorf("%s: got %d %q; want 500 naming %q", tt.target, res.StatusCode, body, tt.want)
		}
		if !strings.Contains(logs.String(), tt.want) {
			t.Errorf("%s: log does not name %q: %s", tt.target, tt.want, logs)
		}
	}
	// The folder's other scripts still run.
	if res, body := get(t, srv.URL+"/s/info"); res.StatusCode != 200 {
		t.Errorf("/s/info: got %d %q; want 200", res.StatusCode, body)
	}
}

// TestScriptsNames: which URLs reach which scripts.
func TestScriptsNames(t *testing.T) {
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	writeScripts(t, scripts, "info.tpl")
	copyFile(t, guest("hello.wasm"), filepath.Join(scripts, "hello.wasm"))
	writeFile(t, filepath.Join(scripts, "dup.tpl"), "Content-Type: text/plain\n\ndup.tpl\n")
	copyFile(t, guest("hello.wasm"), filepath.Join(scripts, "dup.wasm"))
	writeFile(t, filepath.Join(scripts, ".hidden.tpl"), "Content-Type: text/plain\n\nhidden\n")
	writeFile(t, filepath.Join(scripts, "notes.txt"), "not a script")
	writeFile(t, filepath.Join(scripts, "sub", "inner.tpl"), "Content-Type: text/plain\n\ninner\n")
	if err := os.MkdirAll(filepath.Join(scripts, "blog", "2024"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(scripts, "info.tpl"), filepath.Join(scripts, "blog", "2024", "post.tpl"))
	writeFile(t, filepath.Join(scripts, ".private", "x.tpl"), "Content-Type: text/plain\n\nprivate\n")
	writeFile(t, filepath.Join(dir, "outside", "secret.tpl"), "Content-Type: text/plain\n\nsecret\n")
	for link, target := range map[string]string{"out.tpl": "../outside/secret.tpl", "alias.tpl": "info.tpl", "outdir": "../outside"} {
		if err := os.Symlink(target, filepath.Join(scripts, link)); err != nil {
			t.Fatal(err)
		}
	}
	srv, logs := scriptsSite(t, dir, scriptsConfig(""))

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
		{"ambiguous", "/s/dup", 404, "dup.tpl, dup.wasm"},
		{"ambiguous with ext", "/s/dup.tpl", 200, "dup.tpl\n"},
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
		// As Apache's ScriptAlias: folders, then the script, then PATH_INFO.
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
				t.Fatalf("%s: status %d (%q); want %d", tt.target, res.StatusCode, body, tt.status)
			}
			if (tt.status == 200 && body != tt.want) || (tt.status != 200 && !strings.Contains(body, tt.want)) {
				t.Errorf("%s: body %q; want %q", tt.target, body, tt.want)
			}
		})
	}
	if !strings.Contains(logs.String(), `"reason":"no script"`) {
		t.Errorf("404s are not logged with their reason: %s", logs)
	}
}

// TestScriptsConcurrentBuild: requests that arrive while a script builds
// share that one build, and other scripts are served meanwhile.
func TestScriptsConcurrentBuild(t *testing.T) {
	dir := t.TempDir()
	writeScripts(t, filepath.Join(dir, "scripts"), "info.tpl")
	// A timeout far past a Go build's, so that a slow machine's build is
	// waited for rather than answered 503 "still building".
	srv, logs := scriptsSite(t, dir, scriptsConfig(`timeout = "120s"`))
	// New content, so that no build cache already has it.
	writeFile(t, filepath.Join(dir, "scripts", "slow.go"), fmt.Sprintf(`package main

import "fmt"

// %s %d
func main() { fmt.Print("Content-Type: text/plain\n\nbuilt once\n") }
`, t.Name(), time.Now().UnixNano()))

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
	// While slow.go builds (go build takes a second at least), another
	// script answers; the build has not finished when it does.
	for !strings.Contains(logs.String(), `"path":"/s/info"`) {
		res, body := get(t, srv.URL+"/s/info")
		if res.StatusCode != 200 {
			t.Fatalf("/s/info during a build: %d %q", res.StatusCode, body)
		}
	}
	if strings.Contains(logs.String(), `"script built"`) {
		t.Errorf("/s/info waited for slow.go's build")
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("/s/slow: %s", e)
	}
	if got := strings.Count(logs.String(), `"message":"script built"`); got != 1 {
		t.Errorf("%d builds for %d concurrent requests; want 1\nlog: %s", got, n, logs)
	}
}

// TestScriptsPrebuild: Site.Prebuild builds the folder's scripts before any
// request, and skips interpreted ones.
func TestScriptsPrebuild(t *testing.T) {
	dir := t.TempDir()
	writeScripts(t, filepath.Join(dir, "scripts"), "hello.go", "info.tpl")
	cfg, err := router.ParseConfig(strings.NewReader(scriptsConfig("")), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	site, err := router.Build(context.Background(), cfg, router.Options{Loader: &cgi.Loader{Engine: scriptsEngine(t), Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: t.TempDir()}}, Log: zerolog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	site.Prebuild(context.Background())
	if got := strings.Count(logs.String(), `"message":"script built"`); got != 1 {
		t.Fatalf("%d scripts built by Prebuild; want 1 (hello.go)\nlog: %s", got, logs)
	}
	srv := httptest.NewServer(site.Handler)
	defer srv.Close()
	if res, body := get(t, srv.URL+"/s/hello/x"); res.StatusCode != 200 || body != "go /s/hello /x\n" {
		t.Errorf("got %d %q; want 200 %q", res.StatusCode, body, "go /s/hello /x\n")
	}
	if got := strings.Count(logs.String(), `"message":"script built"`); got != 1 {
		t.Errorf("a prebuilt script was built again on its first request\nlog: %s", logs)
	}
}

// TestScriptsConfigErrors: scripts and interpreter settings are validated.
func TestScriptsConfigErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"module and scripts", "[[route]]\npath = \"/s/*\"\nmodule = \"a.wasm\"\nscripts = \"s\"\n", "mutually exclusive"},
		{"exact path", "[[route]]\npath = \"/s\"\nscripts = \"s\"\n", "prefix route"},
		{"entrypoint", "[[route]]\npath = \"/s/*\"\nscripts = \"s\"\nentrypoint = \"x\"\n", "entrypoint does not apply"},
		{"static on a module route", "[[route]]\npath = \"/s/*\"\nmodule = \"a.wasm\"\nstatic = true\n", "index and static apply to a scripts route only"},
		{"hidden index entry", "[[route]]\npath = \"/s/*\"\nscripts = \"s\"\nindex = [\".index.py\"]\n", `index entry ".index.py" must be a plain file name`},
		{"index entry with a slash", "[[route]]\npath = \"/s/*\"\nscripts = \"s\"\nindex = [\"a/index.py\"]\n", "must be a plain file name"},
		{"sendfile without a volume", "[[route]]\npath = \"/x\"\nmodule = \"a.wasm\"\nsendfile = true\n", "sendfile needs a volume"},
		{"bad ext", "[[interpreter]]\next = \"rb\"\nmodule = \"r.wasm\"\n", "ext must be"},
		{"duplicate ext", "[[interpreter]]\next = \".rb\"\nmodule = \"a.wasm\"\n[[interpreter]]\next = \".rb\"\nmodule = \"b.wasm\"\n", "same ext"},
		{"no module", "[[interpreter]]\next = \".rb\"\n", "module is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := router.ParseConfig(strings.NewReader(tt.config), "test.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

// TestInterpreterBuiltExt: an interpreter may not claim an extension the
// loader builds; the site fails to build, naming the file and the
// interpreter (checked at Build, where the loader is known, since router
// keeps no list of what the loader builds).
func TestInterpreterBuiltExt(t *testing.T) {
	cfg, err := router.ParseConfig(strings.NewReader("[[interpreter]]\next = \".go\"\nmodule = \"r.wasm\"\n"), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := sharedEngine(t)
	_, err = router.Build(context.Background(), cfg, router.Options{Loader: &cgi.Loader{Engine: eng}, Log: zerolog.Nop()})
	want := `test.toml: interpreter #1 ".go": .go scripts are built, not interpreted`
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, router.ErrConfig) {
		t.Errorf("error %v; want ErrConfig containing %q", err, want)
	}
}

// BenchmarkScripts measures a request per language once built (run with
// -bench Scripts -benchtime 20x; WASIGATE_BENCH_RUBY=1 adds Ruby).
func BenchmarkScripts(b *testing.B) {
	dir := b.TempDir()
	for n, src := range scriptSources {
		p := filepath.Join(dir, "scripts", n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(src), 0o644)
	}
	srv, _ := scriptsSite(b, dir, scriptsConfig(""))
	for _, target := range []string{"/s/hello.wat", "/s/hello.c", "/s/hello.rs", "/s/hello.go", "/s/info.tpl", "/s/hello.rb"} {
		b.Run(strings.TrimPrefix(target, "/s/"), func(b *testing.B) {
			if strings.HasSuffix(target, ".rb") {
				if _, err := os.Stat(rubyWasm); err != nil {
					b.Skip("ruby.wasm not installed")
				}
			}
			start := time.Now()
			res, err := http.Get(srv.URL + target) // builds
			if err != nil || res.StatusCode != 200 {
				b.Skipf("%s: %v %v", target, err, res)
			}
			res.Body.Close()
			first := time.Since(start)
			u, _ := url.Parse(srv.URL + target)
			for b.Loop() {
				res, err := http.Get(u.String())
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			b.ReportMetric(float64(first.Milliseconds()), "first-ms")
		})
	}
}

// TestScriptsEditsReleaseModules: each edit compiles a new module; the one
// it replaces is closed once no request runs it, and retiring the site
// closes the rest (edit, refresh, see, without the process growing with
// every edit).
func TestScriptsEditsReleaseModules(t *testing.T) {
	ctx := context.Background()
	eng, err := wasi.NewEngine(ctx, wasi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	dir := t.TempDir()
	scripts := filepath.Join(dir, "cgi")
	if err := os.Mkdir(scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := router.ParseConfig(strings.NewReader("[[route]]\npath = \"/s/*\"\nscripts = \"cgi\"\n"), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	site, err := router.Build(ctx, cfg, router.Options{Loader: &cgi.Loader{Engine: eng, Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: t.TempDir()}}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site.Handler)
	defer srv.Close()
	versions := []struct{ guest, body string }{
		{"hello.wasm", "hello\n"}, {"counter.wasm", "count=1\n"}, {"hello.wasm", "hello\n"}, {"counter.wasm", "count=1\n"},
	}
	for i, v := range versions {
		wasm, err := os.ReadFile(guest(v.guest))
		if err != nil {
			t.Fatal(err)
		}
		// A distinct modification time, as an editor's save gives.
		p := filepath.Join(scripts, "x.wasm")
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		res, body := get(t, srv.URL+"/s/x")
		if res.StatusCode != 200 || !strings.Contains(body, v.body) {
			t.Fatalf("edit %d (%s): %d %q; want 200 with %q", i, v.guest, res.StatusCode, body, v.body)
		}
		if n := eng.OpenModules(); n != 1 {
			t.Errorf("after edit %d: %d compiled modules open; want 1 (the current build)", i, n)
		}
	}
	srv.Close()
	if err := site.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := eng.OpenModules(); n != 0 {
		t.Errorf("after the site was closed: %d modules open; want 0", n)
	}
}
