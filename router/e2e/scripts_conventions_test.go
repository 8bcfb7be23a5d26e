package e2e_test

import (
	"context"
	"github.com/wasigate/wasigate/router"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// buildError builds config against dir and returns Build's error (nil if
// the site started, which is then closed).
func buildError(t *testing.T, dir, config string) error {
	t.Helper()
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		return err
	}
	site, err := router.Build(context.Background(), cfg, router.Options{
		Loader: &cgi.Loader{Engine: scriptsEngine(t), Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: filepath.Join(t.TempDir(), "builds"), GoCache: testGoCache()}},
		Log:    zerolog.Nop(),
	})
	if err == nil {
		_ = site.Close(context.Background())
	}
	return err
}

// TestScriptsStartFailures: a configuration whose scripts cannot run fails
// the start (and so `wasigate check`), naming the file, the route or
// interpreter, and the fix, instead of answering 404s or 500s later.
func TestScriptsStartFailures(t *testing.T) {
	missing := func(dir string) string {
		return strings.Replace(scriptsConfig(""), rubyWasm, filepath.Join(dir, "no-ruby.wasm"), 1)
	}
	tests := []struct {
		name   string
		files  []string
		config func(dir string) string
		want   []string // parts of the error; none: it starts
	}{
		{"interpreter module missing", []string{"info.tpl"},
			func(dir string) string { return strings.Replace(missing(dir), "optional = true\n", "", 1) },
			[]string{"test.toml", `interpreter #2 ".rb"`, "no-ruby.wasm is not installed", "npm install --prefix samples/ruby", "optional = true"}},
		{"interpreter module missing, optional", []string{"info.tpl"}, missing, nil},
		{"a .py with no interpreter", []string{"info.tpl", "app.py"}, func(string) string { return scriptsConfig("") },
			[]string{"test.toml", `route #1 "/s/*"`, "scripts folder scripts", "no interpreter for .py scripts (app.py)", `ext = ".py"`}},
		{"a .php in a subfolder", []string{"info.tpl", "wiki/index.php"}, func(string) string { return scriptsConfig("") },
			[]string{"no interpreter for .php scripts (wiki/index.php)"}},
		{"a hidden .py is not served anyway", []string{"info.tpl", ".venv/x.py"}, func(string) string { return scriptsConfig("") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				content := "print('x')\n"
				if src, ok := scriptSources[f]; ok {
					content = src
				}
				writeFile(t, filepath.Join(dir, "scripts", f), content)
			}
			err := buildError(t, dir, tt.config(dir))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("build: %v; want it to start", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("it started; want an error naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestScriptsNoInterpreterRequest: a .py added after the start, with no
// interpreter for it, answers 500 naming the missing interpreter, not 404.
func TestScriptsNoInterpreterRequest(t *testing.T) {
	dir := t.TempDir()
	writeScripts(t, filepath.Join(dir, "scripts"), "info.tpl")
	srv, logs := scriptsSite(t, dir, scriptsConfig(""))
	writeFile(t, filepath.Join(dir, "scripts", "late.py"), "print('x')\n")
	writeFile(t, filepath.Join(dir, "scripts", "blog", "post.py"), "print('x')\n")
	for _, target := range []string{"/s/late.py", "/s/blog/post.py/extra"} {
		res, body := get(t, srv.URL+target)
		if res.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "no interpreter for .py scripts") || !strings.Contains(body, `ext = ".py"`) {
			t.Errorf("%s: got %d %q; want 500 naming the missing .py interpreter", target, res.StatusCode, body)
		}
	}
	if !strings.Contains(logs.String(), `"reason":"toolchain"`) || !strings.Contains(logs.String(), `"module":"scripts/late.py"`) {
		t.Errorf("log lacks the reason or the module: %s", logs)
	}
	// A missing file is still a 404.
	if res, _ := get(t, srv.URL+"/s/none.py"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/s/none.py: got %d; want 404", res.StatusCode)
	}
}

// TestScriptsAnyMethod: with no `methods`, every method reaches the script
// (PROPFIND, MKCOL, a made-up one), as CGI leaves the method to it; with
// `methods`, the others are refused.
func TestScriptsAnyMethod(t *testing.T) {
	dir := t.TempDir()
	writeScripts(t, filepath.Join(dir, "scripts"), "info.tpl")
	writeFile(t, filepath.Join(dir, "scripts", "method.tpl"), "Content-Type: text/plain\n\nmethod=${REQUEST_METHOD} PATH_INFO=${PATH_INFO}\n")
	srv, _ := scriptsSite(t, dir, scriptsConfig("")+`
[[route]]
path = "/only/*"
scripts = "scripts"
methods = ["GET"]

[[route]]
path = "/dav/*"
scripts = "scripts"
methods = ["GET", "PROPFIND"]
`)
	for _, m := range []string{"PROPFIND", "MKCOL", "REPORT", "BREW", "GET", "DELETE"} {
		req, _ := http.NewRequest(m, srv.URL+"/s/method.tpl/x", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res)
		if want := "method=" + m + " PATH_INFO=/x\n"; res.StatusCode != 200 || body != want {
			t.Errorf("%s /s/method.tpl/x: got %d %q; want 200 %q", m, res.StatusCode, body, want)
		}
		req, _ = http.NewRequest(m, srv.URL+"/only/method.tpl", nil)
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = readAll(t, res)
		if want := map[bool]int{true: 200, false: 405}[m == "GET"]; res.StatusCode != want {
			t.Errorf("%s /only/method.tpl: got %d; want %d", m, res.StatusCode, want)
		}
		// A route may list methods chi does not know.
		req, _ = http.NewRequest(m, srv.URL+"/dav/method.tpl", nil)
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = readAll(t, res)
		if want := map[bool]int{true: 200, false: 405}[m == "GET" || m == "PROPFIND"]; res.StatusCode != want {
			t.Errorf("%s /dav/method.tpl: got %d; want %d", m, res.StatusCode, want)
		}
	}
}
