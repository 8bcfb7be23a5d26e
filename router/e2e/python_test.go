package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pythonDist is where `bash samples/python/install.sh` puts CPython.
var pythonDist = filepath.Join(repoRoot, "samples", "python", "dist")

// pythonInterpreter is the sample site's [[interpreter]] for .py, with
// absolute paths, and extra keys (args = ["-S"]) appended.
func pythonInterpreter(extra string) string {
	return fmt.Sprintf(`
[[interpreter]]
ext = ".py"
module = %q
install = "bash samples/python/install.sh"
volumes = { "/usr/local/lib/python3.11" = %q, "/usr/local/lib/python3.11/dist-packages" = %q }
env = { PYTHONDONTWRITEBYTECODE = "1" }
%s
`, filepath.Join(pythonDist, "python.wasm"), filepath.Join(pythonDist, "lib", "python3.11"),
		filepath.Join(pythonDist, "site-packages"), extra)
}

// pythonScripts are the test's own scripts, next to the samples.
var pythonScripts = map[string]string{
	// The env.wasm oracle in Python: env-KEY=VALUE, argv-I=VALUE lines.
	"oracle.py": `import os, sys
print("Content-Type: text/plain\n")
for k in sorted(os.environ):
    print("env-%s=%s" % (k, os.environ[k]))
for i, a in enumerate(sys.argv):
    print("argv-%d=%s" % (i, a))
print("flag-no_site=%d" % sys.flags.no_site)
`,
	"preloaded.py": "import sys\nprint('Content-Type: text/plain\\n')\nprint('wsgiref.handlers' in sys.modules)\n",
	"boom.py":      "raise ValueError('secret-detail 42')\n",
	"exit3.py":     "import sys\nprint('Content-Type: text/plain\\n')\nsys.exit(3)\n",
	// Module state and randomness must not carry over between requests.
	"counter.py": `import random
count = 0
count += 1
print("Content-Type: text/plain\n")
print("count=%d random=%r" % (count, random.random()))
`,
	// What a request finds in its scratch /tmp, then leaves there.
	"scratch.py": `import os, tempfile
print("Content-Type: text/plain\n")
print("before=%s" % ",".join(sorted(os.listdir("/tmp"))))
with open("/tmp/mark", "w") as f:
    f.write("left by a request")
with tempfile.TemporaryFile() as t:
    t.write(b"tempfile works")
print("ok")
`,
	"readall.py": `import hashlib, sys
data = sys.stdin.buffer.read()
print("Content-Type: text/plain\n")
print("read %d bytes sha256=%s" % (len(data), hashlib.sha256(data).hexdigest()))
`,
}

// pythonSite serves the sample .py scripts and pythonScripts at /s/*, with
// ruby.wasm for .rb; it skips (or fails, under WASIGATE_REQUIRE_TOOLCHAINS)
// when CPython is not installed.
func pythonSite(t *testing.T, extra string) (string, *logBuffer) {
	t.Helper()
	return pythonSiteRoute(t, extra, "")
}

// pythonSiteRoute is pythonSite with route keys added to the /s/* route.
func pythonSiteRoute(t *testing.T, extra, route string) (string, *logBuffer) {
	t.Helper()
	needPython(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join(repoRoot, "samples", "scripts", "*.py"))
	for _, s := range samples {
		copyFile(t, s, filepath.Join(dir, "scripts", filepath.Base(s)))
	}
	for name, src := range pythonScripts {
		writeFile(t, filepath.Join(dir, "scripts", name), src)
	}
	writeFile(t, filepath.Join(dir, "scripts", "argv.rb"), "print \"Content-Type: text/plain\\n\\n\"\nprint \"ruby argv=#{ARGV.join('|')}\\n\"\n")
	srv, logs := scriptsSite(t, dir, pythonInterpreter(extra)+fmt.Sprintf(`
[[interpreter]]
ext = ".rb"
module = %q
install = "npm install --prefix samples/ruby"
optional = true

[[route]]
path = "/s/*"
scripts = "scripts"
%s`, rubyWasm, route))
	return srv.URL, logs
}

// TestPythonSamples: every sample script of samples/scripts answers over
// real HTTP with the real interpreter, so that what
// samples/python/README.md promises is what runs.
func TestPythonSamples(t *testing.T) {
	base, logs := pythonSite(t, "")
	upload, ctype := multipartBody(t, map[string]string{"name": "Ada"}, "file", "notes.bin", 5000)
	tests := []struct {
		name, method, target, ctype string
		body                        []byte
		want                        string
	}{
		{name: "hello", target: "/s/hello.py", want: "hello from Python 3.11.2\n"},
		{name: "wsgi", target: "/s/wsgi.py/ada", want: "hello, ada, from WSGI (GET http)\n"},
		{name: "web.py", target: "/s/webpy_app.py/ada", want: "hello, ada, from web.py 0.62\n"},
		{name: "flask", target: "/s/flask_app.py/ada", want: "hello, ada, from Flask 2.2.2\n"},
		{name: "form get", target: "/s/pyform.py", want: `<form method="post">`},
		{name: "form urlencoded", method: "POST", target: "/s/pyform.py", ctype: "application/x-www-form-urlencoded",
			body: []byte("name=Ada+L%C3%A9&x=1&x=2"), want: "urlencoded\nname=Ada Lé\nx=1,2\n"},
		{name: "form upload", method: "POST", target: "/s/pyform.py", ctype: ctype, body: upload,
			want: "multipart\nfile: file notes.bin, 5000 bytes\nname=Ada\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			res, body := pyDo(t, method, base+tt.target, tt.ctype, tt.body)
			if res.StatusCode != 200 || !strings.HasPrefix(body, tt.want) {
				t.Fatalf("%s %s: got %d %q; want 200 %q\nlog: %s", method, tt.target, res.StatusCode, body, tt.want, logs)
			}
		})
	}
}

// pyDo sends a request and returns the response and its body.
func pyDo(t *testing.T, method, url, ctype string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return res, string(b)
}

// multipartBody is a multipart/form-data body with fields and one file of
// size random bytes.
func multipartBody(t *testing.T, fields map[string]string, field, file string, size int) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile(field, file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(fw, rand.Reader, int64(size)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// oracle parses oracle.py's lines.
func oracle(body string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// TestPythonEnvArgv: a Python script sees the CGI variables of RFC 3875
// section 4.1 and, for a query without "=", the words of section 4.4 as
// sys.argv[1:], and the interpreter's own env.
func TestPythonEnvArgv(t *testing.T) {
	base, logs := pythonSite(t, "")
	res, body := pyDo(t, "GET", base+"/s/oracle.py/x/y?a+b%20c", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("status %d; want 200\nlog: %s", res.StatusCode, logs)
	}
	got := oracle(body)
	want := map[string]string{
		"env-SCRIPT_NAME":             "/s/oracle.py",
		"env-PATH_INFO":               "/x/y",
		"env-QUERY_STRING":            "a+b%20c",
		"env-REQUEST_METHOD":          "GET",
		"env-GATEWAY_INTERFACE":       "CGI/1.1",
		"env-SERVER_PROTOCOL":         "HTTP/1.1",
		"env-PYTHONDONTWRITEBYTECODE": "1",
		"argv-0":                      "/cgi-bin/oracle.py",
		"argv-1":                      "a",
		"argv-2":                      "b c",
		"flag-no_site":                "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
	if _, ok := got["argv-3"]; ok {
		t.Errorf("argv has a word too many: %q", got["argv-3"])
	}
}

// TestPythonLargePost: a 5 MB body reaches the script whole through stdin.
func TestPythonLargePost(t *testing.T) {
	base, logs := pythonSite(t, "")
	body := make([]byte, 5<<20)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	res, got := pyDo(t, "POST", base+"/s/readall.py", "application/octet-stream", body)
	want := fmt.Sprintf("read %d bytes sha256=%x\n", len(body), sha256.Sum256(body))
	if res.StatusCode != 200 || got != want {
		t.Fatalf("got %d %q; want 200 %q\nlog: %s", res.StatusCode, got, want, logs)
	}
}

// scriptEvents returns the log events of the request to target.
func scriptEvents(t *testing.T, logs *logBuffer, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range logEvents(t, logs) {
		if ev["request_id"] == id {
			out = append(out, ev)
		}
	}
	return out
}

// TestPythonFailures: an uncaught exception is a 502 whose traceback goes
// to the log, as one event, never to the page (without show_errors); sys.exit(3) is an exit with status 3.
// Either way the request has exactly one access event, reason "exit".
func TestPythonFailures(t *testing.T) {
	base, logs := pythonSite(t, "")
	tests := []struct {
		name, target, err string
		stderr            []string // lines of the request's "guest stderr" events
	}{
		{"exception", "/s/boom.py", "guest exited with code 1",
			[]string{"Traceback (most recent call last):", "ValueError: secret-detail 42"}},
		{"sys.exit(3)", "/s/exit3.py", "guest exited with code 3", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := pyDo(t, "GET", base+tt.target, "", nil)
			if res.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d; want 502", res.StatusCode)
			}
			if strings.Contains(body, "secret-detail") || strings.Contains(body, "Traceback") {
				t.Errorf("page shows the traceback: %q", body)
			}
			var access []map[string]any
			stderr, events := map[string]bool{}, 0
			for _, ev := range scriptEvents(t, logs, res.Header.Get("X-Request-Id")) {
				switch ev["message"] {
				case "request":
					access = append(access, ev)
				case "guest stderr":
					events++
					for _, l := range strings.Split(fmt.Sprint(ev["stderr"]), "\n") {
						stderr[l] = true
					}
				}
			}
			if len(access) != 1 || access[0]["reason"] != "exit" || access[0]["error"] != tt.err || access[0]["status"] != float64(502) {
				t.Fatalf("access events %v; want one with status 502, reason exit, error %q", access, tt.err)
			}
			for _, line := range tt.stderr {
				if !stderr[line] {
					t.Errorf("log lacks stderr line %q; got %v", line, stderr)
				}
			}
			if len(tt.stderr) > 0 && events != 1 {
				t.Errorf("the traceback is in %d events; want one", events)
			}
		})
	}
}

// TestPythonIsolation: every request is a fresh interpreter: a
// module-level counter is 1 each time and random is seeded anew.
func TestPythonIsolation(t *testing.T) {
	base, logs := pythonSite(t, "")
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		res, body := pyDo(t, "GET", base+"/s/counter.py", "", nil)
		if res.StatusCode != 200 || !strings.HasPrefix(body, "count=1 random=") {
			t.Fatalf("request %d: got %d %q; want 200 count=1\nlog: %s", i, res.StatusCode, body, logs)
		}
		r := strings.TrimPrefix(body, "count=1 random=")
		if seen[r] {
			t.Errorf("request %d: random.random() = %s again; want a fresh seed per request", i, r)
		}
		seen[r] = true
	}
}

// TestInterpreterOptionInjection: a query's words are the script's
// arguments, never the interpreter's options (the CVE-2012-1823 family:
// php-cgi's ?-s). For Python the script still runs and sees them in
// sys.argv[1:]; for Ruby in ARGV.
func TestInterpreterOptionInjection(t *testing.T) {
	base, logs := pythonSite(t, "")
	py := []struct{ query, argv string }{
		{"-c+print(42)", "-c|print(42)"},
		{"-m+http.server", "-m|http.server"},
		{"-S", "-S"},
		{"-I+-E", "-I|-E"},
		{"--+-c+x", "--|-c|x"},
		{"-X+importtime", "-X|importtime"},
	}
	for _, tt := range py {
		t.Run("python "+tt.query, func(t *testing.T) {
			res, body := pyDo(t, "GET", base+"/s/oracle.py?"+tt.query, "", nil)
			got := oracle(body)
			var argv []string
			for i := 1; got[fmt.Sprintf("argv-%d", i)] != ""; i++ {
				argv = append(argv, got[fmt.Sprintf("argv-%d", i)])
			}
			if res.StatusCode != 200 || got["argv-0"] != "/cgi-bin/oracle.py" || strings.Join(argv, "|") != tt.argv || got["flag-no_site"] != "0" {
				t.Fatalf("?%s: got %d argv0=%q argv[1:]=%q no_site=%s; want 200 /cgi-bin/oracle.py %q 0\nlog: %s",
					tt.query, res.StatusCode, got["argv-0"], strings.Join(argv, "|"), got["flag-no_site"], tt.argv, logs)
			}
		})
	}
	rb := []struct{ query, argv string }{
		{"-e+puts+1", "-e|puts|1"},
		{"-rjson", "-rjson"},
		{"--version", "--version"},
		{"-x", "-x"},
	}
	for _, tt := range rb {
		t.Run("ruby "+tt.query, func(t *testing.T) {
			needRuby(t)
			res, body := pyDo(t, "GET", base+"/s/argv.rb?"+tt.query, "", nil)
			if want := "ruby argv=" + tt.argv + "\n"; res.StatusCode != 200 || body != want {
				t.Fatalf("?%s: got %d %q; want 200 %q\nlog: %s", tt.query, res.StatusCode, body, want, logs)
			}
		})
	}
}

// TestPythonInterpreterArgs: the [[interpreter]] args are the
// interpreter's options (here -S: no site), and still not the query's.
func TestPythonInterpreterArgs(t *testing.T) {
	base, logs := pythonSite(t, `args = ["-S"]`)
	res, body := pyDo(t, "GET", base+"/s/oracle.py?-c+x", "", nil)
	got := oracle(body)
	if res.StatusCode != 200 || got["flag-no_site"] != "1" || got["argv-0"] != "/cgi-bin/oracle.py" || got["argv-1"] != "-c" {
		t.Fatalf("got %d no_site=%q argv0=%q argv1=%q; want 200 1 /cgi-bin/oracle.py -c\nlog: %s",
			res.StatusCode, got["flag-no_site"], got["argv-0"], got["argv-1"], logs)
	}
}

// TestPythonScratch: with scratch = true each request gets an empty,
// writable /tmp (tempfile works), what one request leaves there is not
// seen by the next, and the host folder is gone after the request.
func TestPythonScratch(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	base, logs := pythonSite(t, "scratch = true")
	pyDo(t, "GET", base+"/s/scratch.py", "", nil) // warm: the connection, the module
	fds := openFDs(t)
	for i := 0; i < 3; i++ {
		res, body := pyDo(t, "GET", base+"/s/scratch.py", "", nil)
		if res.StatusCode != 200 || body != "before=\nok\n" {
			t.Fatalf("request %d: got %d %q; want 200 an empty /tmp, then ok\nlog: %s", i, res.StatusCode, body, logs)
		}
	}
	if n := openFDs(t); n > fds {
		t.Errorf("%d open fds after 3 requests; want at most %d (a scratch root left open?)", n, fds)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "wasigate-scratch-*")); len(left) != 0 {
		t.Errorf("scratch folders left on the host: %v", left)
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestPythonPreload: the [[interpreter]] preload list is imported before
// the script runs (a module that does not exist: TestPythonCheckFailures).
func TestPythonPreload(t *testing.T) {
	tests := []struct {
		name, extra string
		status      int
		body        string
	}{
		{"none", "", 200, "False\n"},
		{"wsgiref", `preload = ["wsgiref.handlers"]`, 200, "True\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, logs := pythonSite(t, tt.extra)
			res, body := pyDo(t, "GET", base+"/s/preloaded.py", "", nil)
			if res.StatusCode != tt.status || body != tt.body {
				t.Fatalf("got %d %q; want %d %q\nlog: %s", res.StatusCode, body, tt.status, tt.body, logs)
			}
		})
	}
}
