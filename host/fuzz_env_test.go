package host

import (
	"bufio"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// validHeader reports whether a request got past net/http's server, which
// answers 400 to a header name that is not a token or a value with
// control characters other than tab (server.go, readRequest).
func validHeader(h http.Header) bool {
	for k, vv := range h {
		if !validName([]byte(k)) {
			return false
		}
		for _, v := range vv {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
					return false
				}
			}
		}
	}
	return true
}

var metaKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// FuzzEnvironment feeds raw HTTP requests and remote addresses to the
// request -> argv and environment mapping (RFC 3875 section 4): every
// entry is KEY=value with a well-formed key, nothing has a NUL or a
// newline where WASI or a script would choke on it, httpoxy's HTTP_PROXY
// never appears, and no variable is set twice.
func FuzzEnvironment(f *testing.F) {
	seeds := []struct{ raw, remote string }{
		{"GET /app/x/y?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n", "192.0.2.1:1234"},
		{"POST /app?x+y HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc", "[2001:db8::1]:5"},
		{"GET /app HTTP/1.1\r\nHost: h\r\nProxy: http://evil\r\nAuthorization: Basic eA==\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n", "@"},
		{"GET /app/%00?%00 HTTP/1.1\r\nHost: h\r\n\r\n", "1.2.3.4:1"},
		{"GET /app/a%0Ab HTTP/1.1\r\nHost: h\r\nX_Foo: 1\r\nX-Foo: 2\r\n\r\n", ""},
		{"OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "x"},
		{"GET http://other/app/z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "1.1.1.1:1"},
		{"GET /app HTTP/1.1\r\nHost: h\r\nAuthorization: sk-bare-token\r\nProxy-Authorization: Basic cDpx\r\nProxy-Connection: keep-alive\r\n\r\n", "1.1.1.1:1"},
		{"GET /app HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer  x y\r\n\r\n", "1.1.1.1:1"},
	}
	for _, s := range seeds {
		f.Add(s.raw, s.remote, false)
		f.Add(s.raw, s.remote, true)
	}
	f.Fuzz(func(t *testing.T, raw, remote string, wagi bool) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || !validHeader(r.Header) {
			return // net/http answers 400 before any handler runs
		}
		r.RemoteAddr = remote
		h := &Handler{Route: "/app/*", Root: "/app", Env: []string{"ROUTE_VAR=1"}, DocumentRoot: "/"}
		if wagi {
			h.Argv = WAGIArgv
		}
		req := h.request(r)
		args, env, err := h.invocation(r, req, r.ContentLength)
		if err != nil {
			return // answered 400
		}
		for _, a := range args {
			if strings.IndexByte(a, 0) >= 0 {
				t.Errorf("argv entry with NUL: %q", a)
			}
		}
		seen := map[string]bool{}
		for _, kv := range env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("env entry %q is not KEY=value", kv)
			}
			if !metaKey.MatchString(k) {
				t.Errorf("env key %q is not an upper-case variable name", k)
			}
			if strings.ContainsAny(v, "\x00") {
				t.Errorf("env %s has a NUL: %q", k, v)
			}
			if strings.HasPrefix(k, "HTTP_") && strings.ContainsAny(v, "\r\n") {
				t.Errorf("env %s has a line break: %q", k, v)
			}
			if k == "HTTP_PROXY" {
				t.Errorf("HTTP_PROXY set (httpoxy): %q", v)
			}
			if k == "HTTP_AUTHORIZATION" {
				t.Errorf("HTTP_AUTHORIZATION passed without PassAuthorization")
			}
			if k == "HTTP_PROXY_AUTHORIZATION" || k == "HTTP_PROXY_CONNECTION" {
				t.Errorf("%s passed: %q", k, v)
			}
			if k == "AUTH_TYPE" {
				// Only the scheme of "scheme credentials", never a lone
				// token (a bare API key).
				scheme, creds, _ := strings.Cut(r.Header.Get("Authorization"), " ")
				if v != scheme || !validName([]byte(v)) || strings.TrimLeft(creds, " ") == "" {
					t.Errorf("AUTH_TYPE=%q from Authorization %q", v, r.Header.Get("Authorization"))
				}
			}
			if seen[k] {
				t.Errorf("env %s set twice: %q", k, env)
			}
			seen[k] = true
		}
		for _, k := range []string{"GATEWAY_INTERFACE", "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR"} {
			if !seen[k] {
				t.Errorf("env has no %s: %q", k, env)
			}
		}
	})
}
