package e2e_test

// These tests re-express, over real HTTP and real guests, the behaviours
// Go's net/http/cgi host tests check
// (cmd/wasigate/DECISIONS.md#cgi-conformance-against-nethttpcgi). env.wasm
// is the oracle: it prints env-KEY=value, argv-I=value and stdin= lines, as
// net/http/cgi's test child does.

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host"
)

// cgiConfig mounts the guests the CGI tests use.
const cgiConfig = `
[[route]]
path = "/env/*"
module = "env.wasm"
env = { GREETING = "hi" }

[[route]]
path = "/exact"
module = "env.wasm"

[[route]]
path = "/u/{id}/*"
module = "env.wasm"

[[route]]
path = "/auth"
module = "env.wasm"
pass_authorization = true

[[route]]
path = "/hello"
module = "env.wasm"    # the target of status.wasm's local redirect

[[route]]
path = "/status"
module = "status.wasm"

[[route]]
path = "/slow"
module = "slowbody.wasm"

[[route]]
path = "/loop"
module = "loop.wasm"
timeout = "60s"

[[route]]
path = "/sleep"
module = "sleep.wasm"
timeout = "60s"
env = { SLEEP_MS = "50000" }

[[route]]
path = "/flood"
module = "flood.wasm"
timeout = "60s"
max_output = "4GiB"
`

// cgiEnv is what env.wasm printed.
type cgiEnv struct {
	env   map[string]string
	argv  []string
	stdin string
}

func parseEnv(t testing.TB, body string) cgiEnv {
	t.Helper()
	out := cgiEnv{env: map[string]string{}}
	for _, line := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(line, "env-"):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "env-"), "=")
			out.env[k] = v
		case strings.HasPrefix(line, "argv-"):
			_, v, _ := strings.Cut(line, "=")
			out.argv = append(out.argv, v)
		case strings.HasPrefix(line, "stdin="):
			out.stdin = strings.TrimPrefix(line, "stdin=")
		}
	}
	if len(out.env) == 0 {
		t.Fatalf("no env- lines in body %q", body)
	}
	return out
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// do sends req and returns the response and its whole body.
func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return res, string(b)
}

// chunked hides a reader's length so the client sends it chunked.
type chunked struct{ io.Reader }

func TestCGIEnvironment(t *testing.T) {
	// Nothing of the server's environment may reach a guest (ARCHITECTURE:
	// "no inherited environment").
	t.Setenv("WASIGATE_TEST_LEAK", "secret")
	srv, _ := testSite(t, "", cgiConfig)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	for _, c := range cgiEnvCases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = "GET"
			}
			var reqBody io.Reader
			if c.body != nil {
				reqBody = strings.NewReader(*c.body)
				if c.chunked {
					reqBody = chunked{reqBody}
				}
			}
			req, err := http.NewRequest(method, srv.URL+c.target, reqBody)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range c.header {
				req.Header[h[0]] = append(req.Header[h[0]], h[1]) // as given, not canonicalised
			}
			if c.host != "" {
				req.Host = c.host
			}
			res, body := do(t, http.DefaultClient, req)
			if res.StatusCode != 200 {
				t.Fatalf("status %d; want 200 (body %q)", res.StatusCode, body)
			}
			got := parseEnv(t, body)
			for k, want := range c.want {
				want = strings.ReplaceAll(want, "{port}", port)
				v, ok := got.env[k]
				if !ok {
					t.Errorf("%s not set; want %q", k, want)
				} else if v != want {
					t.Errorf("%s=%q; want %q", k, v, want)
				}
			}
			for _, k := range c.absent {
				if v, ok := got.env[k]; ok {
					t.Errorf("%s=%q is set; want it absent", k, v)
				}
			}
			if c.argv != nil && strings.Join(got.argv, "\x00") != strings.Join(c.argv, "\x00") {
				t.Errorf("argv %q; want %q", got.argv, c.argv)
			}
			if c.stdin != nil && got.stdin != *c.stdin {
				t.Errorf("stdin %.40q (%d bytes); want %.40q (%d bytes)", got.stdin, len(got.stdin), *c.stdin, len(*c.stdin))
			}
			if p := got.env["REMOTE_PORT"]; p == "" || p == "0" {
				t.Errorf("REMOTE_PORT=%q; want the client's port", p)
			}
			// Each variable exactly once: a guest's getenv picks one.
			seen := map[string]bool{}
			for _, line := range strings.Split(body, "\n") {
				if k, _, ok := strings.Cut(strings.TrimPrefix(line, "env-"), "="); ok && strings.HasPrefix(line, "env-") {
					if seen[k] {
						t.Errorf("%s set twice", k)
					}
					seen[k] = true
				}
			}
		})
	}
}

// cgiEnvCase is a request to env.wasm and the environment it must see.
type cgiEnvCase struct {
	name    string
	method  string
	target  string
	header  [][2]string
	host    string
	body    *string           // nil: no body
	chunked bool              // send body without a Content-Length
	want    map[string]string // variables with these exact values; {port} is the server's
	absent  []string          // variables that must not be set
	argv    []string          // nil: not checked
	stdin   *string
}

func str(s string) *string { return &s }

// cgiEnvCases are TestCGIEnvironment's cases (RFC 3875 section 4.1).
var cgiEnvCases = []cgiEnvCase{
	{
		name:   "basic GET",
		target: "/env/foo/bar?a=1&b=2",
		want: map[string]string{
			"GATEWAY_INTERFACE": "CGI/1.1",
			"SERVER_SOFTWARE":   "wasigate/" + host.Version,
			"SERVER_PROTOCOL":   "HTTP/1.1",
			"REQUEST_METHOD":    "GET",
			"REQUEST_URI":       "/env/foo/bar?a=1&b=2",
			"QUERY_STRING":      "a=1&b=2",
			"SCRIPT_NAME":       "/env",
			"PATH_INFO":         "/foo/bar",
			"PATH_TRANSLATED":   "/foo/bar", // RFC 3875 4.1.6, as WAGI sets it
			"SERVER_NAME":       "127.0.0.1",
			"SERVER_PORT":       "{port}",
			"REMOTE_ADDR":       "127.0.0.1",
			"REMOTE_HOST":       "127.0.0.1",
			"HTTP_HOST":         "127.0.0.1:{port}",
			"X_MATCHED_ROUTE":   "/env/*",
			"X_RAW_PATH_INFO":   "/foo/bar",
			"X_FULL_URL":        "http://127.0.0.1:{port}/env/foo/bar?a=1&b=2",
			"GREETING":          "hi",
		},
		absent: []string{"CONTENT_LENGTH", "CONTENT_TYPE", "HTTPS", "AUTH_TYPE", "HTTP_AUTHORIZATION"},
		argv:   []string{"/env"}, // a query with '=' has no search words
		stdin:  str(""),
	},
	{
		name:   "prefix route without the slash",
		target: "/env",
		want:   map[string]string{"SCRIPT_NAME": "/env", "PATH_INFO": "", "QUERY_STRING": ""},
	},
	{
		name:   "prefix route with a trailing slash",
		target: "/env/",
		want:   map[string]string{"SCRIPT_NAME": "/env", "PATH_INFO": "/"},
	},
	{
		name:   "prefix route deeper path with trailing slash",
		target: "/env/a/b/",
		want:   map[string]string{"SCRIPT_NAME": "/env", "PATH_INFO": "/a/b/"},
	},
	{
		name:   "exact route",
		target: "/exact?x=1",
		want:   map[string]string{"SCRIPT_NAME": "/exact", "PATH_INFO": "", "X_MATCHED_ROUTE": "/exact", "QUERY_STRING": "x=1"},
	},
	{
		name:   "prefix route with a parameter",
		target: "/u/42/x/y",
		want:   map[string]string{"SCRIPT_NAME": "/u/42", "PATH_INFO": "/x/y", "X_RAW_PATH_INFO": "/x/y", "X_MATCHED_ROUTE": "/u/{id}/*"},
	},
	{
		name:   "prefix route with a parameter, at its root",
		target: "/u/42",
		want:   map[string]string{"SCRIPT_NAME": "/u/42", "PATH_INFO": ""},
	},
	{
		name:   "prefix route with an encoded parameter",
		target: "/u/a%20b%2Fc/d%2Fe",
		want:   map[string]string{"SCRIPT_NAME": "/u/a b/c", "PATH_INFO": "/d/e", "X_RAW_PATH_INFO": "/d%2Fe"},
	},
	{
		name:   "percent-encoded path info",
		target: "/env/a%20b/c%2Fd",
		want:   map[string]string{"SCRIPT_NAME": "/env", "PATH_INFO": "/a b/c/d", "X_RAW_PATH_INFO": "/a%20b/c%2Fd"},
	},
	{
		name:   "duplicate headers joined with comma",
		target: "/env/",
		header: [][2]string{{"X-Dup", "a"}, {"X-Dup", "b"}, {"Accept", "text/html"}},
		want:   map[string]string{"HTTP_X_DUP": "a, b", "HTTP_ACCEPT": "text/html"},
	},
	{
		name:   "cookies joined with semicolon",
		target: "/env/",
		header: [][2]string{{"Cookie", "a=1"}, {"Cookie", "b=2"}},
		want:   map[string]string{"HTTP_COOKIE": "a=1; b=2"},
	},
	{
		name:   "Proxy header dropped (httpoxy)",
		target: "/env/",
		header: [][2]string{{"Proxy", "http://evil.example:3128"}},
		absent: []string{"HTTP_PROXY"},
	},
	{
		name:   "header with underscore dropped, dash kept",
		target: "/env/",
		header: [][2]string{{"X_Foo", "spoof"}, {"X-Foo", "real"}},
		want:   map[string]string{"HTTP_X_FOO": "real"},
	},
	{
		name:   "Authorization hidden without pass_authorization",
		target: "/env/",
		header: [][2]string{{"Authorization", "Basic dTpw"}},
		want:   map[string]string{"AUTH_TYPE": "Basic"},
		absent: []string{"HTTP_AUTHORIZATION"},
	},
	{
		name:   "Authorization passed with pass_authorization",
		target: "/auth",
		header: [][2]string{{"Authorization", "Bearer tok"}},
		want:   map[string]string{"AUTH_TYPE": "Bearer", "HTTP_AUTHORIZATION": "Bearer tok"},
	},
	{
		name:   "SERVER_NAME and SERVER_PORT from Host",
		target: "/env/",
		host:   "example.org:8443",
		want:   map[string]string{"SERVER_NAME": "example.org", "SERVER_PORT": "8443", "HTTP_HOST": "example.org:8443", "X_FULL_URL": "http://example.org:8443/env/"},
	},
	{
		name:   "Host without port",
		target: "/env/",
		host:   "example.org",
		want:   map[string]string{"SERVER_NAME": "example.org", "SERVER_PORT": "80"},
	},
	{
		name:   "IPv6 Host",
		target: "/env/",
		host:   "[::1]:9000",
		want:   map[string]string{"SERVER_NAME": "::1", "SERVER_PORT": "9000"},
	},
	{
		name:   "POST body on stdin",
		method: "POST",
		target: "/env/form",
		header: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}},
		body:   str("a=1&b=2"),
		want:   map[string]string{"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "7", "CONTENT_TYPE": "application/x-www-form-urlencoded"},
		absent: []string{"HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"},
		stdin:  str("a=1&b=2"),
	},
	{
		name:   "chunked POST gets an exact CONTENT_LENGTH",
		method: "POST",
		target: "/env/",
		header: [][2]string{{"Content-Type", "text/plain"}},
		body:   str(strings.Repeat("x", 5000)), chunked: true,
		want:  map[string]string{"CONTENT_LENGTH": "5000", "CONTENT_TYPE": "text/plain"},
		stdin: str(strings.Repeat("x", 5000)),
	},
	{
		name:   "empty POST has no CONTENT_LENGTH",
		method: "POST",
		target: "/env/",
		header: [][2]string{{"Content-Type", "text/plain"}},
		body:   str(""),
		want:   map[string]string{"REQUEST_METHOD": "POST"},
		absent: []string{"CONTENT_LENGTH", "CONTENT_TYPE"},
		stdin:  str(""),
	},
	{
		name:   "GET with Content-Type but no body",
		target: "/env/",
		header: [][2]string{{"Content-Type", "text/plain"}},
		absent: []string{"CONTENT_LENGTH", "CONTENT_TYPE"},
	},
	{
		name:   "search words in argv (RFC 3875 4.4)",
		target: "/env/?hello+big%20world",
		want:   map[string]string{"QUERY_STRING": "hello+big%20world"},
		argv:   []string{"/env", "hello", "big world"},
	},
	{
		name:   "no search words when the query has =",
		target: "/env/?a=b+c",
		argv:   []string{"/env"},
	},
	{
		name:   "server environment not leaked",
		target: "/env/",
		absent: []string{"WASIGATE_TEST_LEAK", "PATH", "HOME", "USER", "PWD"},
	},
}

// TestCGIRootRoute: a route at /* has an empty SCRIPT_NAME and the whole
// path as PATH_INFO, like net/http/cgi's Root "/".
func TestCGIRootRoute(t *testing.T) {
	srv, _ := testSite(t, "", `
[[route]]
path = "/*"
module = "env.wasm"
`)
	cases := []struct{ target, script, pathInfo string }{
		{"/", "", "/"},
		{"/a/b", "", "/a/b"},
		{"/a/b/", "", "/a/b/"},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			_, body := get(t, srv.URL+c.target)
			env := parseEnv(t, body).env
			if env["SCRIPT_NAME"] != c.script || env["PATH_INFO"] != c.pathInfo {
				t.Errorf("SCRIPT_NAME=%q PATH_INFO=%q; want %q %q", env["SCRIPT_NAME"], env["PATH_INFO"], c.script, c.pathInfo)
			}
			if env["X_MATCHED_ROUTE"] != "/*" {
				t.Errorf("X_MATCHED_ROUTE=%q; want /*", env["X_MATCHED_ROUTE"])
			}
		})
	}
}

func TestCGIRemoteAddrIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	h, _ := testHandler(t, "", cgiConfig)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	// A client bound to a known local port shows up in REMOTE_PORT.
	local, err := net.ResolveTCPAddr("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: local}
	conn, err := d.Dial("tcp6", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, clientPort, _ := net.SplitHostPort(conn.LocalAddr().String())
	fmt.Fprintf(conn, "GET /env/ HTTP/1.1\r\nHost: [::1]:%s\r\nConnection: close\r\n\r\n", port)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	env := parseEnv(t, string(b)).env
	want := map[string]string{"REMOTE_ADDR": "::1", "REMOTE_HOST": "::1", "REMOTE_PORT": clientPort, "SERVER_NAME": "::1", "SERVER_PORT": port}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q; want %q", k, env[k], v)
		}
	}
}

func TestCGIHTTPS(t *testing.T) {
	h, _ := testHandler(t, "", cgiConfig)
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	req, _ := http.NewRequest("GET", srv.URL+"/env/x", nil)
	_, body := do(t, srv.Client(), req)
	env := parseEnv(t, body).env
	want := map[string]string{"HTTPS": "on", "SERVER_PORT": port, "X_FULL_URL": "https://127.0.0.1:" + port + "/env/x"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q; want %q", k, env[k], v)
		}
	}

	// Without a port in Host, HTTPS means 443.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /env/ HTTP/1.1\r\nHost: secure.example\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	env = parseEnv(t, string(b)).env
	if env["SERVER_NAME"] != "secure.example" || env["SERVER_PORT"] != "443" {
		t.Errorf("SERVER_NAME=%q SERVER_PORT=%q; want secure.example 443", env["SERVER_NAME"], env["SERVER_PORT"])
	}
}

// logEvents parses the JSON log lines written so far.
func logEvents(t testing.TB, logs *logBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// accessEvent returns the access log event of the request to path, or nil.
func accessEvent(t testing.TB, logs *logBuffer, path string) map[string]any {
	t.Helper()
	for _, ev := range logEvents(t, logs) {
		if ev["message"] == "request" && ev["path"] == path {
			return ev
		}
	}
	return nil
}

// TestCGIResponses: what real guests' outputs and endings become. The
// status and header cases of status.wasm's output moved to host's
// TestHandlerResponses, which needs no wazero; these are the guests of
// their own and the endings only a real instance gives.
func TestCGIResponses(t *testing.T) {
	srv, logs := testSite(t, "", cgiConfig+`
[[route]]
path = "/g/*"
module = "hello.wasm"
[[route]]
path = "/trap"
module = "trap.wasm"
[[route]]
path = "/exit1"
module = "exit1.wasm"
[[route]]
path = "/panic"
module = "panic.wasm"
[[route]]
path = "/crlf"
module = "crlf.wasm"
[[route]]
path = "/nul"
module = "nul.wasm"
[[route]]
path = "/bigheader"
module = "bigheader.wasm"
[[route]]
path = "/noend"
module = "noend.wasm"
[[route]]
path = "/nocontent"
module = "nocontent.wasm"
`)
	cases := []struct {
		name       string
		method     string
		target     string
		status     int
		body       string            // "" means not checked
		header     map[string]string // exact values
		noHeader   []string          // must not be in the response
		setCookies []string
		reason     string // access log reason; "" means none
	}{
		{name: "LF header endings", target: "/g/", status: 200, body: "hello\n", header: map[string]string{"Content-Type": "text/plain"}},
		{name: "CR in a header value", target: "/crlf", status: 502, noHeader: []string{"Set-Cookie", "X-Evil"}, reason: "invalid"},
		{name: "NUL in a header value", target: "/nul", status: 502, noHeader: []string{"X-Nul"}, reason: "invalid"},
		{name: "header block too large", target: "/bigheader", status: 502, noHeader: []string{"X-Big"}, reason: "invalid"},
		{name: "header block never ends", target: "/noend", status: 502, noHeader: []string{"X-N"}, reason: "invalid"},
		{name: "trap before the header block", target: "/trap", status: 502, reason: "crash"},
		{name: "exit 1 before the header block", target: "/exit1", status: 502, reason: "exit"},
		{name: "Rust panic", target: "/panic", status: 502, reason: "crash"},
		{name: "204 with a stray body", target: "/nocontent", status: 204, body: ""},
		{name: "internal redirect loop", target: "/status?loop", status: 500, reason: "redirect"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+c.target, nil)
			res, body := do(t, noRedirect, req)
			if res.StatusCode != c.status {
				t.Errorf("status %d; want %d (body %q)", res.StatusCode, c.status, body)
			}
			if c.body != "" && body != c.body {
				t.Errorf("body %q; want %q", body, c.body)
			}
			for k, v := range c.header {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s: %q; want %q", k, got, v)
				}
			}
			for _, k := range c.noHeader {
				if v, ok := res.Header[k]; ok {
					t.Errorf("header %s: %q reached the client", k, v)
				}
			}
			if c.setCookies != nil && strings.Join(res.Header.Values("Set-Cookie"), "|") != strings.Join(c.setCookies, "|") {
				t.Errorf("Set-Cookie %q; want %q", res.Header.Values("Set-Cookie"), c.setCookies)
			}
			if c.reason != "" {
				path := strings.SplitN(c.target, "?", 2)[0]
				var got []string
				for _, ev := range logEvents(t, logs) {
					if ev["message"] == "request" && ev["path"] == path {
						got = append(got, fmt.Sprint(ev["reason"]))
					}
				}
				found := false
				for _, r := range got {
					found = found || r == c.reason
				}
				if !found {
					t.Errorf("access log reasons for %s: %q; want one %q", path, got, c.reason)
				}
			}
		})
	}
}

// TestCGIFailureEvents: each failure is one error event naming route,
// module and request id.
func TestCGIFailureEvents(t *testing.T) {
	srv, logs := testSite(t, "", `
[[route]]
path = "/status"
module = "status.wasm"
[[route]]
path = "/panic"
module = "panic.wasm"
`)
	for _, target := range []string{"/status?badstatus", "/panic"} {
		res, _ := get(t, srv.URL+target)
		id := res.Header.Get("X-Request-Id")
		path := strings.SplitN(target, "?", 2)[0]
		var failures []map[string]any
		for _, ev := range logEvents(t, logs) {
			if ev["request_id"] == id && ev["level"] == "error" {
				failures = append(failures, ev)
			}
		}
		if len(failures) != 1 {
			t.Errorf("%s: %d error events; want 1: %v", target, len(failures), failures)
			continue
		}
		ev := failures[0]
		if ev["route"] != path || !strings.HasSuffix(fmt.Sprint(ev["module"]), path[1:]+".wasm") {
			t.Errorf("%s: error event route=%v module=%v; want %s and %s.wasm", target, ev["route"], ev["module"], path, path[1:])
		}
	}
}

func TestCGIInternalRedirect(t *testing.T) {
	srv, logs := testSite(t, "", cgiConfig)
	// A POST to a script answering "Location: /hello" is served /hello as
	// a GET, without the body (RFC 3875 6.2.2); /hello is env.wasm here.
	req, _ := http.NewRequest("POST", srv.URL+"/status?local", strings.NewReader("payload"))
	req.Header.Set("Content-Type", "text/plain")
	res, body := do(t, noRedirect, req)
	if res.StatusCode != 200 {
		t.Fatalf("status %d; want 200 (body %q)", res.StatusCode, body)
	}
	got := parseEnv(t, body)
	want := map[string]string{"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/hello", "REQUEST_URI": "/hello", "QUERY_STRING": ""}
	for k, v := range want {
		if got.env[k] != v {
			t.Errorf("%s=%q; want %q", k, got.env[k], v)
		}
	}
	for _, k := range []string{"CONTENT_LENGTH", "CONTENT_TYPE"} {
		if v, ok := got.env[k]; ok {
			t.Errorf("%s=%q after an internal redirect; want it absent", k, v)
		}
	}
	if got.stdin != "" {
		t.Errorf("stdin %q after an internal redirect; want empty", got.stdin)
	}
	if ev := accessEvent(t, logs, "/status"); ev == nil || ev["status"] != float64(200) {
		t.Errorf("access log for /status: %v; want status 200", ev)
	}
	// Still one request: one id, one access-log event, which names the
	// route that answered and the hop.
	id := res.Header.Get("X-Request-Id")
	if ids := res.Header.Values("X-Request-Id"); len(ids) != 1 {
		t.Errorf("X-Request-Id %q; want one id", ids)
	}
	var events []map[string]any
	for _, ev := range logEvents(t, logs) {
		if ev["message"] == "request" && ev["request_id"] == id {
			events = append(events, ev)
		}
	}
	if len(events) != 1 {
		t.Fatalf("%d access-log events for request %s; want 1: %v", len(events), id, events)
	}
	if events[0]["route"] != "/hello" || events[0]["redirects"] != float64(1) {
		t.Errorf("access event route=%v redirects=%v; want /hello and 1", events[0]["route"], events[0]["redirects"])
	}
}

func TestCGIStderrLogged(t *testing.T) {
	srv, logs := testSite(t, "", cgiConfig+`
[[route]]
path = "/panic"
module = "panic.wasm"
`)
	cases := []struct{ target, line, route, module string }{
		{"/status?stderr", "something to stderr", "/status", "status.wasm"},
		{"/panic", "deliberate panic", "/panic", "panic.wasm"},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			res, body := get(t, srv.URL+c.target)
			if strings.Contains(body, c.line) {
				t.Errorf("stderr text %q reached the response body", c.line)
			}
			id := res.Header.Get("X-Request-Id")
			var found map[string]any
			for _, ev := range logEvents(t, logs) {
				if s, _ := ev["stderr"].(string); strings.Contains(s, c.line) {
					found = ev
				}
			}
			switch {
			case found == nil:
				t.Errorf("no stderr log event containing %q in %s", c.line, logs)
			case found["route"] != c.route || found["request_id"] != id || !strings.HasSuffix(fmt.Sprint(found["module"]), c.module):
				t.Errorf("stderr event route=%v module=%v request_id=%v; want %s, %s, %s", found["route"], found["module"], found["request_id"], c.route, c.module, id)
			}
		})
	}
}

// TestCGIFailureAfterBody: a guest that fails once its body has started
// must not look like a whole response to the client.
func TestCGIFailureAfterBody(t *testing.T) {
	srv, logs := testSite(t, "", `
[[route]]
path = "/trap"
module = "trap_after_body.wasm"
[[route]]
path = "/exit1"
module = "exit1_after_body.wasm"
`)
	for _, path := range []string{"/trap", "/exit1"} {
		t.Run(path, func(t *testing.T) {
			res, err := http.Get(srv.URL + path)
			if err != nil {
				return // aborted before the headers: also not a clean response
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil {
				t.Errorf("read %q and a clean end; want an error (aborted response)", b)
			}
			ev := accessEvent(t, logs, path)
			if ev == nil || ev["aborted"] != true {
				t.Errorf("access log %v; want aborted=true", ev)
			}
		})
	}
}

// TestCGIClientGone: a client that goes away stops its guest at once, not
// at the route's 60 s timeout.
func TestCGIClientGone(t *testing.T) {
	srv, logs := testSite(t, "", cgiConfig)
	cases := []struct {
		path   string
		status float64 // in the access log: 499 if nothing was sent
	}{
		{"/loop", 499},
		{"/sleep", 499},
		{"/flood", 200}, // streaming when the client left
	}
	for _, c := range cases {
		path := c.path
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
			// Let the request reach the guest, then hang up.
			time.Sleep(200 * time.Millisecond)
			conn.Close()
			deadline := time.Now().Add(20 * time.Second) // well before the 60 s timeout
			var ev map[string]any
			for ev == nil && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				ev = accessEvent(t, logs, path)
			}
			if ev == nil {
				t.Fatalf("no access log event for %s within 20 s; the guest was not stopped", path)
			}
			if ev["reason"] != "client" || ev["status"] != c.status {
				t.Errorf("access log reason=%v status=%v; want client %v", ev["reason"], ev["status"], c.status)
			}
			if d, _ := ev["duration"].(float64); d >= 60000 {
				t.Errorf("logged duration %v ms; want the run to end before the 60 s timeout", d)
			}
		})
	}
}

// TestCGIStreaming: slowbody's first line reaches the client while the
// request is still in flight (no access log event yet), and the lines
// arrive spread out as the guest writes them.
func TestCGIStreaming(t *testing.T) {
	srv, logs := testSite(t, "", cgiConfig)
	res, err := http.Get(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	first, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	firstAt := time.Now()
	if first != "line 1\n" {
		t.Fatalf("first line %q; want %q", first, "line 1\n")
	}
	// The access log event is written when the handler returns, before the
	// response ends: a buffering host would have written it already.
	if ev := accessEvent(t, logs, "/slow"); ev != nil {
		t.Errorf("first line arrived after the request ended (%v); want it streamed", ev)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	gap := time.Since(firstAt)
	if want := "line 2\nline 3\nline 4\nline 5\n"; string(rest) != want {
		t.Errorf("rest %q; want %q", rest, want)
	}
	// The guest sleeps 4 x 200 ms between line 1 and line 5; a lower bound
	// of half that only fails if the lines came at once.
	if gap < 400*time.Millisecond {
		t.Errorf("lines 2-5 came %v after line 1; want them spread over ~800 ms", gap)
	}
}

// TestCGIAbsoluteFormTarget: a request sent in absolute form (as to a
// proxy) gets the same CGI view as one in origin form; X_FULL_URL names
// the host once.
func TestCGIAbsoluteFormTarget(t *testing.T) {
	srv, _ := testSite(t, "", cgiConfig)
	status, body := rawRequest(t, srv.Listener.Addr().String(),
		"GET http://a.example/env/x?q=1 HTTP/1.1\nHost: a.example\nConnection: close\n\n")
	if status != 200 {
		t.Fatalf("status %d; want 200 (body %q)", status, body)
	}
	for _, want := range []string{"env-X_FULL_URL=http://a.example/env/x?q=1", "env-PATH_INFO=/x", "env-SCRIPT_NAME=/env", "env-QUERY_STRING=q=1"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}
