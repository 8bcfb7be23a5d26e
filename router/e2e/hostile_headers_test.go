package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// headersConfig serves the guests of the header cases: what a hostile guest
// or client may put in headers. %[1]s is testdata/guests.
const headersConfig = `
[server]
read_header_timeout = "300ms"
idle_timeout = "300ms"

[[route]]
path = "/env"
module = "%[1]s/env.wasm"

[[route]]
path = "/env-pass"
module = "%[1]s/env.wasm"
pass_authorization = true

[[route]]
path = "/headers"
module = "%[1]s/headers.wasm"

[[route]]
path = "/stderr"
module = "%[1]s/stderrflood.wasm"
`

func headersSite(t *testing.T) (string, *logBuffer) {
	t.Helper()
	text := fmt.Sprintf(headersConfig, filepath.Join(repoRoot, "testdata", "guests"))
	srv, logs := serveConfigLogs(t, "", text)
	return srv.URL, logs
}

// TestHostileRequestHeaders: what of a request's credentials and proxy
// headers reaches a guest (RFC 3875 sections 4.1.1 and 4.1.18).
func TestHostileRequestHeaders(t *testing.T) {
	base, logs := headersSite(t)
	cases := []struct {
		name   string
		path   string
		header http.Header
		want   map[string]string // env.wasm's variables; "" means unset
		secret string            // must appear nowhere in the guest's view
	}{
		{
			name: "bare token is no AUTH_TYPE", path: "/env",
			header: http.Header{"Authorization": {"sk-live-0123456789"}},
			want:   map[string]string{"AUTH_TYPE": "", "HTTP_AUTHORIZATION": ""}, secret: "sk-live-0123456789",
		},
		{
			name: "scheme and credentials give the scheme", path: "/env",
			header: http.Header{"Authorization": {"Bearer abc.def"}},
			want:   map[string]string{"AUTH_TYPE": "Bearer", "HTTP_AUTHORIZATION": ""}, secret: "abc.def",
		},
		{
			name: "scheme and no credentials", path: "/env",
			header: http.Header{"Authorization": {"Basic "}},
			want:   map[string]string{"AUTH_TYPE": ""},
		},
		{
			name: "bare token passed with pass_authorization", path: "/env-pass",
			header: http.Header{"Authorization": {"sometoken"}},
			want:   map[string]string{"AUTH_TYPE": "sometoken", "HTTP_AUTHORIZATION": "sometoken"},
		},
		{
			name: "proxy credentials hidden", path: "/env",
			header: http.Header{"Proxy-Authorization": {"Basic cHJveHk6cHc="}, "Proxy-Connection": {"keep-alive"}},
			want:   map[string]string{"HTTP_PROXY_AUTHORIZATION": "", "HTTP_PROXY_CONNECTION": ""}, secret: "cHJveHk6cHc=",
		},
		{
			name: "proxy credentials hidden with pass_authorization", path: "/env-pass",
			header: http.Header{"Proxy-Authorization": {"Basic cHJveHk6cHc="}, "Proxy-Connection": {"keep-alive"}},
			want:   map[string]string{"HTTP_PROXY_AUTHORIZATION": "", "HTTP_PROXY_CONNECTION": ""}, secret: "cHJveHk6cHc=",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fetch(t, "GET", base+c.path, nil, c.header)
			if o.status != http.StatusOK || o.readErr != nil {
				t.Fatalf("status %d, read error %v; want 200 and a whole body", o.status, o.readErr)
			}
			checkOneEvent(t, logs, o.id, c.path, "env.wasm", "")
			env := parseEnv(t, o.body).env
			for k, want := range c.want {
				got, ok := env[k]
				if want == "" && ok {
					t.Errorf("%s=%q; want it unset", k, got)
				}
				if want != "" && got != want {
					t.Errorf("%s=%q; want %q", k, got, want)
				}
			}
			if c.secret != "" && strings.Contains(o.body, c.secret) {
				t.Errorf("the guest saw %q:\n%s", c.secret, o.body)
			}
		})
	}
}

// TestHostileHopByHopHeaders: the hop-by-hop fields a guest writes never
// reach the client, each is logged, and the server's X-Request-Id wins.
// Read on the wire, where a client library could not hide a duplicate.
func TestHostileHopByHopHeaders(t *testing.T) {
	base, logs := headersSite(t)
	addr := strings.TrimPrefix(base, "http://")
	raw, _ := rawExchange(t, addr, func(c net.Conn) error {
		_, err := fmt.Fprint(c, "GET /headers?hop HTTP/1.1\r\nHost: x\r\n\r\n")
		return err
	})
	if got := statusOf(raw); got != http.StatusOK {
		t.Fatalf("status %d; want 200:\n%s", got, raw)
	}
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	fields := map[string][]string{}
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, _ := strings.Cut(line, ":")
		k = http.CanonicalHeaderKey(k)
		fields[k] = append(fields[k], strings.TrimSpace(v))
	}
	for _, k := range []string{"Connection", "X-Private", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Authenticate", "Proxy-Connection"} {
		if v, ok := fields[k]; ok {
			t.Errorf("%s: %q reached the client", k, v)
		}
	}
	if te := fields["Transfer-Encoding"]; len(te) > 1 {
		t.Errorf("Transfer-Encoding %q sent %d times", te, len(te))
	}
	if got := fields["X-Kept"]; !slices.Equal(got, []string{"yes"}) {
		t.Errorf("X-Kept %q; want [yes]", got)
	}
	ids := fields["X-Request-Id"]
	if len(ids) != 1 || ids[0] == "guest-id" {
		t.Fatalf("X-Request-Id %q; want the server's one", ids)
	}
	if !strings.Contains(body, "hop\n") {
		t.Errorf("body %q; want it to hold hop", body)
	}
	checkOneEvent(t, logs, ids[0], "/headers", "headers.wasm", "")
	var dropped []string
	for _, e := range requestEvents(t, logs, ids[0]) {
		if h := e.str("header"); h != "" {
			if e.str("route") != "/headers" || !strings.HasSuffix(e.str("module"), "headers.wasm") || e.str("level") != "warn" {
				t.Errorf("drop event %v; want a warning naming route and module", e)
			}
			dropped = append(dropped, h)
		}
	}
	slices.Sort(dropped)
	want := []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "X-Private", "X-Request-Id"}
	if !slices.Equal(dropped, want) {
		t.Errorf("drop events for %q; want one each for %q", dropped, want)
	}
}

// TestHostileContentLength: a guest whose body disagrees with its own
// Content-Length is the guest's fault (reason invalid), and the client
// never takes a cut body for a whole one.
func TestHostileContentLength(t *testing.T) {
	base, logs := headersSite(t)
	cases := []struct {
		name    string
		method  string
		query   string
		status  int
		body    string // "" with aborted: not checked
		aborted bool   // the client sees an unexpected EOF
		reason  string
	}{
		{name: "short body aborted", method: "GET", query: "cl-short", status: 200, aborted: true, reason: "invalid"},
		{name: "no body at all is a 502", method: "GET", query: "cl-none", status: 502, reason: "invalid"},
		{name: "long body cut at the length", method: "GET", query: "cl-long", status: 200, body: "too ", reason: "invalid"},
		{name: "right length", method: "GET", query: "cl-right", status: 200, body: "ok\n"},
		{name: "HEAD with a length and no body", method: "HEAD", query: "cl-none", status: 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fetch(t, c.method, base+"/headers?"+c.query, nil, nil)
			if o.status != c.status {
				t.Errorf("status %d; want %d", o.status, c.status)
			}
			if c.aborted != (o.readErr != nil) {
				t.Errorf("read error %v; want aborted=%v (body %q)", o.readErr, c.aborted, o.body)
			}
			if c.body != "" && o.body != c.body {
				t.Errorf("body %q; want %q", o.body, c.body)
			}
			checkOneEvent(t, logs, o.id, "/headers", "headers.wasm", c.reason)
		})
	}
}

// TestHostileStderrFlood: a guest's stderr logs at most 1,000 lines per
// request, in events of bursts of lines, and none for blank lines; the
// access log event counts the rest.
func TestHostileStderrFlood(t *testing.T) {
	base, logs := headersSite(t)
	var longTail int // bytes of "line N\n" for N past the 1,000th line
	for n := 1001; n <= 5000; n++ {
		longTail += len(fmt.Sprintf("line %d\n", n))
	}
	cases := []struct {
		name                 string
		query                string
		lines                int // lines of the guest stderr events
		droppedLines, bytes_ int
	}{
		{name: "8 MiB of newlines", query: "newlines", droppedLines: 8 << 20, bytes_: 8 << 20},
		{name: "1 MiB of CRLF", query: "crlf", droppedLines: 1 << 19, bytes_: 1 << 20},
		{name: "5000 lines", query: "lines", lines: 1000, droppedLines: 4000, bytes_: longTail},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fetch(t, "GET", base+"/stderr?"+c.query, nil, nil)
			if o.status != http.StatusOK || o.body != "ok\n" {
				t.Fatalf("status %d body %q; want 200 ok", o.status, o.body)
			}
			access := checkOneEvent(t, logs, o.id, "/stderr", "stderrflood.wasm", "")
			events, logged := 0, 0
			for _, e := range requestEvents(t, logs, o.id) {
				if text, ok := e["stderr"].(string); ok {
					events++
					logged += strings.Count(text, "\n") + 1
					if n, _ := e["lines"].(float64); int(n) != strings.Count(text, "\n")+1 {
						t.Errorf("event says lines %v; has %d", e["lines"], strings.Count(text, "\n")+1)
					}
				}
			}
			if logged != c.lines || events > c.lines {
				t.Errorf("%d stderr lines in %d events; want %d lines", logged, events, c.lines)
			}
			lines, _ := access["stderr_dropped_lines"].(float64)
			bytes, _ := access["stderr_dropped_bytes"].(float64)
			if int(lines) != c.droppedLines || int(bytes) != c.bytes_ {
				t.Errorf("access event stderr_dropped_lines=%v stderr_dropped_bytes=%v; want %d and %d",
					access["stderr_dropped_lines"], access["stderr_dropped_bytes"], c.droppedLines, c.bytes_)
			}
		})
	}
}

// TestHostileForwardedHost: from a trusted proxy, X-Forwarded-Host means
// the value the nearest proxy appended: the last one, across repeated
// lines and comma lists. Earlier values may come from the client.
func TestHostileForwardedHost(t *testing.T) {
	dir, text := twoTenants(t, `trusted_proxies = ["127.0.0.1/32"]`)
	srv, logs, _ := serveTenantConfig(t, dir, text, nil)
	cases := []struct {
		name   string
		values []string // one header line each
		status int
		tenant string // "" for the default site
		reason string
	}{
		{name: "client's line first, proxy's last", values: []string{"spoofed.example", "a.example"}, status: 200, tenant: "a"},
		{name: "proxy names an unknown host last", values: []string{"a.example", "spoofed.example"}, status: 404, reason: "no route"},
		{name: "comma list in the last line", values: []string{"spoofed.example", "b.example, a.example"}, status: 200, tenant: "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fetch(t, "GET", srv.URL+"/x", nil, http.Header{"X-Forwarded-Host": c.values})
			if o.status != c.status {
				t.Fatalf("status %d; want %d (body %.200q)", o.status, c.status, o.body)
			}
			access := checkOneEvent(t, logs, o.id, "", "", c.reason)
			if got := access.str("tenant"); got != c.tenant {
				t.Errorf("tenant %q; want %q", got, c.tenant)
			}
			if c.tenant == "a" && !strings.Contains(o.body, "env-SERVER_NAME=a.example\n") {
				t.Errorf("guest env has no SERVER_NAME=a.example:\n%s", o.body)
			}
		})
	}
}

// TestHostileAmbiguousFraming: a request with both Content-Length and
// Transfer-Encoding is answered 400 and its connection closed (RFC 9112
// section 6.3), even in the middle of a keep-alive connection; framing
// that only looks like it inside a body is not. Raw TCP, bytes by hand.
func TestHostileAmbiguousFraming(t *testing.T) {
	base, logs := headersSite(t)
	addr := strings.TrimPrefix(base, "http://")
	const (
		get      = "GET /env HTTP/1.1\r\nHost: x\r\n\r\n"
		both     = "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		chunked  = "POST /env HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		fakeBody = "GET /env HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	)
	fake := fmt.Sprintf("POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(fakeBody), fakeBody)
	cases := []struct {
		name   string
		wire   string
		status []int    // the responses, in order; the connection then closes
		reason []string // their access log reasons
	}{
		{name: "both", wire: both + get, status: []int{400}, reason: []string{"framing"}},
		{name: "both, case and spaces", wire: strings.Replace(both, "Transfer-Encoding: chunked", "transfer-encoding:  Chunked ", 1), status: []int{400}, reason: []string{"framing"}},
		{name: "both after a good request", wire: chunked + get + both + get, status: []int{200, 200, 400}, reason: []string{"", "", "framing"}},
		{name: "both after OPTIONS *", wire: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + get + both + get, status: []int{200, 200, 400}, reason: []string{"-", "", "framing"}},
		{name: "OPTIONS * with both", wire: strings.Replace(both, "POST /env", "OPTIONS *", 1) + get + get, status: []int{200, 400}, reason: []string{"-", "framing"}},
		{name: "both after a 100 KiB header line", wire: "GET /env HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n" + both + get, status: []int{200, 400}, reason: []string{"", "framing"}},
		{name: "Transfer-Encoding in HTTP/1.0", wire: strings.Replace(chunked, "HTTP/1.1", "HTTP/1.0", 1), status: []int{400}, reason: []string{"framing"}},
		{name: "look-alike inside a body", wire: fake + chunked + get + "GET /env HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", status: []int{200, 200, 200, 200}, reason: []string{"", "", "", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := rawExchange(t, addr, func(conn net.Conn) error {
				_, err := io.WriteString(conn, c.wire)
				return err
			})
			if err != nil {
				t.Fatalf("reading the answers: %v (got %q); want the connection closed", err, raw)
			}
			br := bufio.NewReader(strings.NewReader(raw))
			var got []int
			var ids []string
			for {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				_, _ = io.Copy(io.Discard, res.Body)
				got = append(got, res.StatusCode)
				ids = append(ids, res.Header.Get("X-Request-Id"))
			}
			if !slices.Equal(got, c.status) {
				t.Fatalf("answers %v; want %v then the connection closed:\n%s", got, c.status, raw)
			}
			for i, id := range ids {
				if c.reason[i] == "-" {
					continue // answered by net/http itself: no event
				}
				route := "/env"
				if c.reason[i] != "" {
					route = "" // refused before routing
				}
				checkOneEvent(t, logs, id, route, "", c.reason[i])
			}
		})
	}
}
