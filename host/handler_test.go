package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// envRunner is a fake program in the manner of net/http/cgi's tests: it
// answers every run with its argv and environment as env-KEY=value and
// argv-N=word lines, the simplest oracle of what the host gave the guest.
var envRunner = RunnerFunc(func(ctx context.Context, inv *Invocation) error {
	fmt.Fprint(inv.Stdout, "Content-Type: text/plain\n\n")
	for i, a := range inv.Args {
		fmt.Fprintf(inv.Stdout, "argv-%d=%s\n", i, a)
	}
	for _, kv := range inv.Env {
		fmt.Fprintf(inv.Stdout, "env-%s\n", kv)
	}
	return nil
})

// runOracle serves req with h (Runner: envRunner) and returns the
// variables and argv the program saw, by name ("argv-1" for argv[1]).
func runOracle(t *testing.T, h *Handler, req *http.Request) map[string]string {
	t.Helper()
	h.Runner = envRunner
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d; want 200 (body %q)", rec.Code, rec.Body)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if kv, ok := strings.CutPrefix(line, "env-"); ok {
			k, v, _ := strings.Cut(kv, "=")
			got[k] = v
		} else if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}

// TestHandlerEnvironment: the meta-variables of RFC 3875 section 4.1 and
// the argv of section 4.4, from a fake Runner (no wazero).
func TestHandlerEnvironment(t *testing.T) {
	h := &Handler{Route: "/app/*", Module: "app.wasm", Root: "/app", Env: []string{"GREETING=hi"}}
	req := httptest.NewRequest("POST", "http://example.com:8080/app/x/y?a+b", strings.NewReader("body"))
	req.RemoteAddr = "192.0.2.7:4321"
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Test", "1")
	req.Header.Set("Proxy", "http://evil.example") // httpoxy
	got := runOracle(t, h, req)
	want := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"REQUEST_METHOD":    "POST",
		"SCRIPT_NAME":       "/app",
		"PATH_INFO":         "/x/y",
		"QUERY_STRING":      "a+b",
		"SERVER_NAME":       "example.com",
		"SERVER_PORT":       "8080",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"REMOTE_ADDR":       "192.0.2.7",
		"CONTENT_LENGTH":    "4",
		"CONTENT_TYPE":      "text/plain",
		"HTTP_X_TEST":       "1",
		"GREETING":          "hi",
		"argv-0":            "/app",
		"argv-1":            "a", // the query's search words (4.4)
		"argv-2":            "b",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q; want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s=%q reached the program; want it absent", k, v)
		}
	}
}

// TestHandlerResponses: the guest's header block decides the status and
// headers (RFC 3875 section 6); what is not a valid CGI response is a 502
// with the reason "invalid". Moved here from router's table of status.wasm
// cases, so that host is tested without wazero: a fake Runner writes the
// same bytes.
func TestHandlerResponses(t *testing.T) {
	cases := []struct {
		name       string
		out        string // the guest's stdout
		status     int
		body       string            // "" means not checked
		header     map[string]string // exact values
		noHeader   []string          // must not be in the response
		setCookies []string
		reason     Reason
	}{
		{name: "LF header endings", out: "Content-Type: text/plain\n\nok\n", status: 200, body: "ok\n", header: map[string]string{"Content-Type": "text/plain"}},
		{name: "CRLF header endings", out: "Content-Type: text/plain\r\nX-A: b\r\n\r\nbody", status: 200, body: "body", header: map[string]string{"X-A": "b", "Content-Type": "text/plain"}},
		{name: "Status 418", out: "Status: 418 I'm a teapot\nContent-Type: text/plain\n\nteapot\n", status: 418, body: "teapot\n", noHeader: []string{"Status"}},
		{name: "client redirect", out: "Location: https://example.com/x\n\n", status: 302, header: map[string]string{"Location": "https://example.com/x"}},
		{name: "repeated Set-Cookie kept", out: "Content-Type: text/plain\nSet-Cookie: a=1; Path=/\nSet-Cookie: b=2; Path=/\n\ncookies\n", status: 200, body: "cookies\n", setCookies: []string{"a=1; Path=/", "b=2; Path=/"}},
		{name: "no Content-Type, Location or Status", out: "X-Foo: bar\n\nbody", status: 502, noHeader: []string{"X-Foo"}, reason: "invalid"},
		{name: "malformed Status", out: "Status: abc\n\n", status: 502, reason: "invalid"},
		{name: "invalid header name", out: "Bad Name: x\nContent-Type: text/plain\n\n", status: 502, noHeader: []string{"Bad Name"}, reason: "invalid"},
		{name: "204 with a stray body", out: "Status: 204 No Content\n\nstray body\n", status: 204, body: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, info, aborted := serveOutput("GET", c.out, nil)
			if aborted {
				t.Fatalf("response aborted")
			}
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status {
				t.Errorf("status %d; want %d (body %q)", res.StatusCode, c.status, body)
			}
			if c.body != "" && string(body) != c.body {
				t.Errorf("body %q; want %q", body, c.body)
			}
			if c.status == 204 && len(body) != 0 {
				t.Errorf("body %q; want none with 204", body)
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
			if info.Reason != c.reason {
				t.Errorf("reason %q; want %q", info.Reason, c.reason)
			}
		})
	}
}

// exitError is a non-zero exit as a Runner reports it.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }
func (e exitError) ExitCode() int { return int(e) }

// TestHandlerRunEndings: how a run ends before its header block decides
// the status and the reason, for any Runner.
func TestHandlerRunEndings(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		reason Reason
	}{
		{"exit 1", exitError(1), 502, "exit"},
		{"trap", errors.New("wasm error: unreachable"), 502, "crash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &Handler{Runner: RunnerFunc(func(context.Context, *Invocation) error { return c.err })}
			ctx, info := WithInfo(context.Background())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			if rec.Code != c.status || info.Reason != c.reason {
				t.Errorf("got %d %q; want %d %q", rec.Code, info.Reason, c.status, c.reason)
			}
		})
	}
}

// TestHandlerRedirectLoop: a program that redirects to itself gets a 500
// after DefaultMaxRedirects hops, never a hang (RFC 3875 section 6.2.2).
func TestHandlerRedirectLoop(t *testing.T) {
	runs := 0
	h := &Handler{Runner: RunnerFunc(func(ctx context.Context, inv *Invocation) error {
		runs++
		_, err := io.WriteString(inv.Stdout, "Location: /loop\n\n")
		return err
	})}
	h.PathLocationHandler = h
	ctx, info := WithInfo(context.Background())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/loop", nil).WithContext(ctx))
	if rec.Code != 500 || info.Reason != "redirect" || runs != DefaultMaxRedirects+1 {
		t.Errorf("got %d %q after %d runs; want 500 %q after %d", rec.Code, info.Reason, runs, "redirect", DefaultMaxRedirects+1)
	}
}
