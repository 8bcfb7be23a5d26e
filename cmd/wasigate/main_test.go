package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

var guests = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "guests")
}()

// wasigate runs the command line in-process and returns its exit code,
// stdout and stderr. The compilation cache goes to a temporary folder.
func wasigate(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := doMain(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// writeConfig writes a configuration into a temporary folder, with
// {guests} replaced by the test guests' folder, and returns its path.
func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	dir := t.TempDir()
	text = strings.ReplaceAll(text, "{guests}", filepath.ToSlash(guests))
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	env := filepath.Join(guests, "env.wasm")
	status := filepath.Join(guests, "status.wasm")
	cases := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		head   string   // the status line and headers, before the blank line (X-Request-Id removed)
		body   []string // substrings of the body
		stderr string   // substring of stderr
	}{
		{name: "GET with search words", args: []string{"run", env, "/x/y?a+b"}, head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain",
			body: []string{"env-REQUEST_METHOD=GET\n", "env-PATH_INFO=/x/y\n", "env-QUERY_STRING=a+b\n", "argv-1=a\n", "argv-2=b\n", "stdin-len=0\n"}},
		{name: "stdin makes a POST", stdin: "hello", args: []string{"run", "-H", "Content-Type: text/plain", env, "/form"}, head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain",
			body: []string{"env-REQUEST_METHOD=POST\n", "env-CONTENT_LENGTH=5\n", "env-CONTENT_TYPE=text/plain\n", "stdin=hello\n"}},
		{name: "method and headers", args: []string{"run", "-X", "DELETE", "-H", "X-Thing: 1", env}, head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain",
			body: []string{"env-REQUEST_METHOD=DELETE\n", "env-HTTP_X_THING=1\n", "env-PATH_INFO=/\n"}},
		{name: "status", args: []string{"run", status, "/?teapot"}, head: "HTTP/1.1 418 I'm a teapot\r\nContent-Type: text/plain",
			body: []string{"teapot\n"}},
		{name: "repeated headers", args: []string{"run", status, "/?cookies"}, head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/"},
		{name: "guest fails", args: []string{"run", filepath.Join(guests, "trap.wasm")}, code: 1, head: "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff"},
		{name: "fails after the body", args: []string{"run", filepath.Join(guests, "exit1_after_body.wasm")}, code: 1, head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain",
			body: []string{"partial body"}, stderr: "response aborted"},
		{name: "missing module", args: []string{"run", filepath.Join(guests, "nope.wasm")}, code: 1, stderr: "nope.wasm"},
		{name: "target without slash", args: []string{"run", env, "x"}, code: 2, stderr: `target "x" must start with /`},
	}
	reqID := regexp.MustCompile(`X-Request-Id: [0-9a-f]+-\d+\r\n`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := wasigate(t, c.stdin, c.args...)
			if code != c.code {
				t.Errorf("exit %d; want %d (stderr %s)", code, c.code, stderr)
			}
			if c.stderr != "" && !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr %q; want it to contain %q", stderr, c.stderr)
			}
			if c.head == "" {
				return
			}
			stdout = reqID.ReplaceAllString(stdout, "")
			head, body, ok := strings.Cut(stdout, "\r\n\r\n")
			if !ok {
				t.Fatalf("stdout %q has no blank line after the headers", stdout)
			}
			if head != c.head {
				t.Errorf("head %q; want %q", head, c.head)
			}
			for _, b := range c.body {
				if !strings.Contains(body, b) {
					t.Errorf("body %q; want it to contain %q", body, b)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		cfg := writeConfig(t, "wasigate.toml", `
[[route]]
path = "/hello"
module = "{guests}/hello.wasm"
[[route]]
path = "/env/*"
module = "{guests}/env.wasm"
`)
		code, stdout, stderr := wasigate(t, "", "check", "-c", cfg)
		if code != 0 {
			t.Fatalf("exit %d; want 0 (stderr %s)", code, stderr)
		}
		if want := cfg + ": ok: 2 routes, 2 modules\n"; !strings.HasPrefix(stdout, want) {
			t.Errorf("stdout %q; want it to start with %q", stdout, want)
		}
		// The sandbox and the cache folder's state, which an operator
		// checks before trusting builds and cached machine code.
		for _, want := range []string{"\nbuilds: sandbox: ", "\ncache: ", ": private to uid "} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout %q; want it to contain %q", stdout, want)
			}
		}
	})
	t.Run("snapshots", func(t *testing.T) {
		// A reactor route and an interpreter driver on a scripts route:
		// check prints one snapshot line for each, so that a route running
		// its init per request is seen before it is served.
		cfg := writeConfig(t, "wasigate.toml", `
[[interpreter]]
ext = ".drv"
module = "{guests}/reactor_driver.wasm"

[[route]]
path = "/r"
module = "{guests}/reactor.wasm"
entrypoint = "serve"

[[route]]
path = "/s/*"
scripts = "scripts"
`)
		if err := os.Mkdir(filepath.Join(filepath.Dir(cfg), "scripts"), 0o755); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := wasigate(t, "", "check", "-c", cfg)
		if code != 0 {
			t.Fatalf("exit %d; want 0 (stderr %s)", code, stderr)
		}
		for _, want := range []string{"/r (" + filepath.ToSlash(guests) + "/reactor.wasm serve): snapshot: ",
			"/s/* (scripts/ .drv interpreter " + filepath.ToSlash(guests) + "/reactor_driver.wasm): snapshot: "} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout %q; want a line containing %q", stdout, want)
			}
		}
		// What each costs in memory: the snapshots' machine code, and the
		// modules' own released, since both routes run from snapshots.
		if n := regexp.MustCompile(`snapshot: \d+ KiB image [^,]+, \d+\.\d MiB machine code`).FindAllString(stdout, -1); len(n) != 2 {
			t.Errorf("stdout %q: got %d snapshot lines with their machine code; want 2", stdout, len(n))
		}
		if !regexp.MustCompile(`\nmemory: 0 B machine code held by modules, [0-9.]+ [KM]B released`).MatchString(stdout) {
			t.Errorf("stdout %q; want a memory line with nothing held and the modules' code released", stdout)
		}
	})
	t.Run("invalid configuration", func(t *testing.T) {
		cfg := writeConfig(t, "wasigate.toml", `
[[route]]
path = "nope"
module = "{guests}/hello.wasm"
[[route]]
path = "/env"
module = "{guests}/env.wasm"
env = { SCRIPT_NAME = "x" }
`)
		code, _, stderr := wasigate(t, "", "check", "-c", cfg)
		if code == 0 {
			t.Fatalf("exit 0; want non-zero")
		}
		for _, want := range []string{cfg + `: route #1 "nope": path must start with /`, cfg + `: route #2 "/env": env SCRIPT_NAME collides`} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr %q; want a line containing %q", stderr, want)
			}
		}
	})
	t.Run("broken modules", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "junk.wasm"), []byte("not wasm"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := writeConfig(t, "wasigate.toml", `
cache_dir = "cache"
[[route]]
path = "/missing"
module = "missing.wasm"
[[route]]
path = "/junk"
module = "`+filepath.ToSlash(filepath.Join(dir, "junk.wasm"))+`"
[[route]]
path = "/entry"
module = "{guests}/hello.wasm"
entrypoint = "nope"
[[route]]
path = "/ok"
module = "{guests}/hello.wasm"
`)
		code, stdout, stderr := wasigate(t, "", "check", "-c", cfg)
		if code == 0 {
			t.Fatalf("exit 0 (stdout %q); want non-zero", stdout)
		}
		for _, want := range []string{
			cfg + `: route #1 "/missing": module missing.wasm`,
			cfg + `: route #2 "/junk": module `,
			cfg + `: route #3 "/entry": `,
			`entrypoint "nope"`,
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr %q; want a line containing %q", stderr, want)
			}
		}
		if strings.Contains(stderr, `"/ok"`) {
			t.Errorf("stderr names the good route /ok: %s", stderr)
		}
	})
}

func TestRoutes(t *testing.T) {
	cfg := writeConfig(t, "wasigate.toml", `
[defaults]
timeout = "3s"
[[route]]
path = "/hello"
module = "{guests}/hello.wasm"
methods = ["GET", "HEAD"]
[[route]]
path = "/r/*"
module = "{guests}/routes.wasm"
memory = "16MiB"
concurrency = 4
`)
	code, stdout, stderr := wasigate(t, "", "routes", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d; want 0 (stderr %s)", code, stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		f := strings.Fields(line)
		if len(f) == 7 {
			f[2] = filepath.Base(f[2])
		}
		got = append(got, strings.Join(f, " "))
	}
	want := []string{
		"ROUTE METHODS MODULE ENTRYPOINT TIMEOUT MEMORY CONCURRENCY",
		"/hello GET,HEAD hello.wasm _start 3s 64MiB 64",
		"/r/* * routes.wasm _start 3s 16MiB 4",
		"/r/a * routes.wasm alpha 3s 16MiB 4",
		"/r/b/* * routes.wasm beta 3s 16MiB 4",
		"/r/c * routes.wasm _start 3s 16MiB 4",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, ""},
		{[]string{"frobnicate"}, 2, ""},
		{[]string{"help"}, 0, "Usage:"},
		{[]string{"version"}, 0, "wasigate "},
		{[]string{"run"}, 2, ""},
	}
	for _, c := range cases {
		code, stdout, stderr := wasigate(t, "", c.args...)
		if code != c.code {
			t.Errorf("wasigate %q: exit %d; want %d (stderr %s)", c.args, code, c.code, stderr)
		}
		if !strings.Contains(stdout, c.out) {
			t.Errorf("wasigate %q: stdout %q; want %q", c.args, stdout, c.out)
		}
	}
}

// TestProgressOnTerminal: a module that takes long to load is reported
// while it loads, not only when it is done.
func TestProgressOnTerminal(t *testing.T) {
	var out syncBuffer
	p := newProgress(newLogger(io.Discard), io.Discard)
	p.terminal, p.every = &out, 20*time.Millisecond
	p.Start("/x/ruby.wasm", 30<<20)
	time.Sleep(70 * time.Millisecond)
	p.Done("/x/ruby.wasm", infoModule{info: seam.ModuleInfo{Size: 30 << 20}}, nil)
	got := out.String()
	for _, want := range []string{"loading /x/ruby.wasm (30.0 MB)...", "still loading /x/ruby.wasm", "compiled /x/ruby.wasm (30.0 MB wasm) in"} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output has no %q:\n%s", want, got)
		}
	}
	n := strings.Count(got, "still loading")
	time.Sleep(50 * time.Millisecond)
	if m := strings.Count(out.String(), "still loading"); m != n {
		t.Errorf("still reporting after Done: %d lines, then %d", n, m)
	}
}

// infoModule is a module that only reports its info, for progress.
type infoModule struct {
	seam.Module
	info seam.ModuleInfo
}

func (m infoModule) Info() seam.ModuleInfo { return m.info }
