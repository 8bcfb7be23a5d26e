package e2e_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPythonShowErrors: with show_errors = true a crashed script's page
// holds its traceback and why it failed; without it, the page is the bare
// status and the traceback stays in the log.
func TestPythonShowErrors(t *testing.T) {
	for _, show := range []bool{false, true} {
		name := "off"
		extra := ""
		if show {
			name, extra = "on", "show_errors = true\n"
		}
		t.Run(name, func(t *testing.T) {
			base, logs := pythonSiteRoute(t, "", extra)
			res, body := pyDo(t, "GET", base+"/s/boom.py", "", nil)
			if res.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d; want 502\nlog: %s", res.StatusCode, logs)
			}
			want := []string{"Bad Gateway: guest exited with code 1", "Traceback (most recent call last):", `File "/cgi-bin/boom.py", line 1`, "ValueError: secret-detail 42"}
			for _, w := range want {
				if got := strings.Contains(body, w); got != show {
					t.Errorf("page contains %q: %v; want %v\npage: %q", w, got, show, body)
				}
			}
			if !show && body != "Bad Gateway\n" {
				t.Errorf("page %q; want %q", body, "Bad Gateway\n")
			}
			if !strings.Contains(logs.String(), "secret-detail 42") {
				t.Errorf("log lacks the traceback: %s", logs)
			}
			// A script that works is unchanged.
			if res, body := pyDo(t, "GET", base+"/s/hello.py", "", nil); res.StatusCode != 200 || !strings.HasPrefix(body, "hello from Python") {
				t.Errorf("hello.py: got %d %q; want 200 hello", res.StatusCode, body)
			}
		})
	}
}

// TestPythonCheckFailures: a preload that cannot be imported fails the
// start (and `wasigate check`), naming the interpreter's module, the
// preload list and Python's own error, instead of a 502 on every request.
func TestPythonCheckFailures(t *testing.T) {
	if _, err := os.Stat(filepath.Join(pythonDist, "python.wasm")); err != nil {
		t.Skip("python not installed: bash samples/python/install.sh")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "hello.py"), "print('Content-Type: text/plain\\n\\nhi')\n")
	config := pythonInterpreter(`preload = ["json", "no_such_module"]`) + `
[[route]]
path = "/s/*"
scripts = "scripts"
`
	err := buildError(t, dir, config)
	if err == nil {
		t.Fatal("it started; want an error naming the preload")
	}
	for _, w := range []string{"test.toml", `route #1 "/s/*"`, "interpreter .py", "python.wasm", `preload ["json" "no_such_module"]`, "No module named 'no_such_module'"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	// The same list without the bad name starts.
	if err := buildError(t, dir, strings.Replace(config, `, "no_such_module"`, "", 1)); err != nil {
		t.Errorf("preload json: %v; want it to start", err)
	}
}

// TestPythonShebang: a .cgi or extensionless file whose "#!" line names
// python3 runs with the .py interpreter, as Apache runs it; other .cgi
// files are no scripts.
func TestPythonShebang(t *testing.T) {
	if _, err := os.Stat(filepath.Join(pythonDist, "python.wasm")); err != nil {
		t.Skip("python not installed: bash samples/python/install.sh")
	}
	dir := t.TempDir()
	body := "import os, sys\nprint('Content-Type: text/plain\\n')\nprint(sys.argv[0], os.environ['SCRIPT_NAME'], os.environ.get('PATH_INFO', ''))\n"
	files := map[string]string{
		"env.cgi":       "#!/usr/bin/env python3\n" + body,
		"direct.cgi":    "#! /usr/bin/python3.11 -u\r\n" + body,
		"tool":          "#!/usr/bin/python3\n" + body,
		"blog/post.cgi": "#!/usr/bin/python3\n" + body,
		"shell.cgi":     "#!/bin/sh\necho hi\n",
		"plain.cgi":     body,
	}
	for name, src := range files {
		writeFile(t, filepath.Join(dir, "scripts", name), src)
	}
	srv, logs := scriptsSite(t, dir, pythonInterpreter("")+`
[[route]]
path = "/s/*"
scripts = "scripts"
`)
	tests := []struct {
		target string
		status int
		want   string
	}{
		{"/s/env.cgi", 200, "/cgi-bin/env.cgi /s/env.cgi \n"},
		{"/s/direct.cgi/x", 200, "/cgi-bin/direct.cgi /s/direct.cgi /x\n"},
		{"/s/env", 200, "/cgi-bin/env.cgi /s/env \n"},
		{"/s/tool/a/b", 200, "/cgi-bin/tool /s/tool /a/b\n"},
		{"/s/blog/post.cgi/extra", 200, "/cgi-bin/blog/post.cgi /s/blog/post.cgi /extra\n"},
		{"/s/shell.cgi", 404, ""},
		{"/s/plain.cgi", 404, ""},
	}
	for _, tt := range tests {
		res, got := pyDo(t, "GET", srv.URL+tt.target, "", nil)
		if res.StatusCode != tt.status || (tt.status == 200 && got != tt.want) {
			t.Errorf("%s: got %d %q; want %d %q\nlog: %s", tt.target, res.StatusCode, got, tt.status, tt.want, logs)
		}
	}
}
