package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name     string
		block    string // without the blank line
		status   int
		header   http.Header
		location string
		err      error
	}{
		{name: "content type", block: "Content-Type: text/plain", status: 200, header: http.Header{"Content-Type": {"text/plain"}}},
		{name: "CRLF", block: "Content-Type: text/plain\r\nX-A: b\r", status: 200, header: http.Header{"Content-Type": {"text/plain"}, "X-A": {"b"}}},
		{name: "name canonicalised, value trimmed", block: "content-type: \t text/html \t", status: 200, header: http.Header{"Content-Type": {"text/html"}}},
		{name: "no space after colon", block: "Content-Type:text/plain", status: 200, header: http.Header{"Content-Type": {"text/plain"}}},
		{name: "empty value", block: "Content-Type: text/plain\nX-Empty:", status: 200, header: http.Header{"Content-Type": {"text/plain"}, "X-Empty": {""}}},
		{name: "status with reason", block: "Status: 418 I'm a teapot\nContent-Type: text/plain", status: 418, header: http.Header{"Content-Type": {"text/plain"}}},
		{name: "status alone", block: "Status: 204", status: 204, header: http.Header{}},
		{name: "status lower case", block: "status: 404 Not Found", status: 404, header: http.Header{}},
		{name: "repeated headers kept", block: "Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2", status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2"}}},
		{name: "client redirect", block: "Location: https://example.com/x", status: 302, header: http.Header{"Location": {"https://example.com/x"}}},
		{name: "protocol-relative is a client redirect", block: "Location: //evil.example/x", status: 302, header: http.Header{"Location": {"//evil.example/x"}}},
		{name: "local redirect", block: "Location: /hello?x=1", header: http.Header{"Location": {"/hello?x=1"}}, location: "/hello?x=1"},
		{name: "redirect with status is a client redirect", block: "Status: 301\nLocation: /moved", status: 301, header: http.Header{"Location": {"/moved"}}},
		{name: "empty block", block: "", err: ErrNoContentType},
		{name: "no content type", block: "X-Foo: bar", err: ErrNoContentType},
		{name: "status not a number", block: "Status: abc", err: ErrBadStatus},
		{name: "status too short", block: "Status: 42", err: ErrBadStatus},
		{name: "status 1xx", block: "Status: 101 Switching", err: ErrBadStatus},
		{name: "status 600", block: "Status: 600", err: ErrBadStatus},
		{name: "status empty", block: "Status:", err: ErrBadStatus},
		{name: "status with sign", block: "Status: +20", err: ErrBadStatus},
		{name: "space in name", block: "Bad Name: x\nContent-Type: text/plain", err: ErrBadHeaderName},
		{name: "space before colon", block: "Content-Type : text/plain", err: ErrBadHeaderName},
		{name: "empty name", block: ": x\nContent-Type: text/plain", err: ErrBadHeaderName},
		{name: "non-ASCII name", block: "Ünicode: x\nContent-Type: text/plain", err: ErrBadHeaderName},
		{name: "CR in value", block: "Content-Type: text/plain\nX-Evil: a\rSet-Cookie: pwned=1", err: ErrBadHeaderValue},
		{name: "NUL in value", block: "Content-Type: text/plain\nX-Nul: a\x00b", err: ErrBadHeaderValue},
		{name: "line without colon", block: "Content-Type: text/plain\nnonsense", err: ErrBadHeaderLine},
		{name: "folded line", block: "Content-Type: text/plain\n continued", err: ErrBadHeaderLine},
		{name: "content length kept", block: "Content-Type: text/plain\nContent-Length: 3", status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"3"}}},
		{name: "content length repeated alike", block: "Content-Type: text/plain\nContent-Length: 3\ncontent-length: 3", status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"3"}}},
		{name: "content lengths differ", block: "Content-Type: text/plain\nContent-Length: 3\nContent-Length: 4", err: ErrBadContentLength},
		{name: "content length negative", block: "Content-Type: text/plain\nContent-Length: -1", err: ErrBadContentLength},
		{name: "content length list", block: "Content-Type: text/plain\nContent-Length: 3, 3", err: ErrBadContentLength},
		{name: "content length too large", block: "Content-Type: text/plain\nContent-Length: 9999999999999999999", err: ErrBadContentLength},
		{
			name:   "hop-by-hop dropped",
			block:  "Content-Type: text/plain\nConnection: close, x-a\nX-A: 1\nKeep-Alive: t=1\nTransfer-Encoding: chunked\nTE: trailers\nTrailer: X\nUpgrade: h2c\nProxy-Authenticate: Basic\nProxy-Connection: close\nX-B: 2",
			status: 200, header: http.Header{"Content-Type": {"text/plain"}, "X-B": {"2"}},
		},
		{name: "Connection names Content-Length", block: "Content-Type: text/plain\nContent-Length: 3\nConnection: Content-Length", status: 200, header: http.Header{"Content-Type": {"text/plain"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := parseHeader([]byte(c.block))
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v; want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v; want none", err)
			}
			if res.status != c.status {
				t.Errorf("status %d; want %d", res.status, c.status)
			}
			if res.location != c.location {
				t.Errorf("local location %q; want %q", res.location, c.location)
			}
			if !equalHeader(res.header, c.header) {
				t.Errorf("header %q; want %q", res.header, c.header)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		if strings.Join(av, "\x00") != strings.Join(b[k], "\x00") || len(av) != len(b[k]) {
			return false
		}
	}
	return true
}

func TestFindHeaderEnd(t *testing.T) {
	cases := []struct {
		buf             string
		blockEnd, start int
	}{
		{"A: b\n\nbody", 4, 6},
		{"A: b\r\n\r\nbody", 5, 8},
		{"A: b\n\r\nbody", 4, 7},
		{"A: b\r\n\nbody", 5, 7},
		{"\nbody", 0, 1},
		{"\r\nbody", 0, 2},
		{"\r\n\nbody", 0, 2}, // the first line is already blank
		{"A: b\n", -1, -1},
		{"A: b\n\r", -1, -1},
		{"A: b\nC: d\n", -1, -1},
		{"", -1, -1},
	}
	for _, c := range cases {
		end, start := findHeaderEnd([]byte(c.buf), 0)
		if end != c.blockEnd || start != c.start {
			t.Errorf("findHeaderEnd(%q) = %d, %d; want %d, %d", c.buf, end, start, c.blockEnd, c.start)
		}
	}
}

// outcome is what output made of some stdout: the parsed header, the body
// sent to the client and the error that stopped the guest.
type outcome struct {
	res  *response
	body string
	err  error
}

// feed writes chunks to a fresh output as a guest would, stopping at the
// first error, the way wazero's fd_write does.
func feed(chunks [][]byte, maxHeader int) outcome {
	rec := httptest.NewRecorder()
	_, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	o := &output{h: &Handler{}, w: rec, info: &Info{}, cancel: cancel, maxHeader: maxHeader, maxOutput: 1 << 30}
	for _, c := range chunks {
		n, err := o.Write(c)
		if err != nil {
			break
		}
		if n != len(c) {
			return outcome{err: errors.New("short write without an error")}
		}
	}
	return outcome{res: o.res, body: rec.Body.String(), err: o.err}
}

// cgiErrors are the error classes output can end in.
var cgiErrors = []error{ErrNoHeader, ErrHeaderTooLarge, ErrNoContentType, ErrBadStatus, ErrBadHeaderName, ErrBadHeaderValue, ErrBadHeaderLine, ErrOutputTooLarge, ErrBadContentLength, ErrContentLength}

func errClass(err error) error {
	if err == nil {
		return nil
	}
	for _, e := range cgiErrors {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

func TestOutputSplits(t *testing.T) {
	cases := []struct {
		name      string
		out       string
		maxHeader int
		status    int
		body      string
		err       error
	}{
		{name: "LF", out: "Content-Type: text/plain\n\nhello\n", maxHeader: 1024, status: 200, body: "hello\n"},
		{name: "CRLF", out: "Content-Type: text/plain\r\n\r\nhello", maxHeader: 1024, status: 200, body: "hello"},
		{name: "mixed", out: "Status: 201\r\nContent-Type: text/plain\n\r\nx\r\n\r\n", maxHeader: 1024, status: 201, body: "x\r\n\r\n"},
		{name: "no body", out: "Status: 204\n\n", maxHeader: 1024, status: 204},
		{name: "block exactly at the limit", out: "Content-Type: text/plain\n\r\nbody", maxHeader: len("Content-Type: text/plain"), status: 200, body: "body"},
		{name: "block over the limit", out: "Content-Type: text/plainx\n\nbody", maxHeader: len("Content-Type: text/plain"), err: ErrHeaderTooLarge},
		{name: "blank first line", out: "\r\n\nbody", maxHeader: 1024, err: ErrNoContentType},
		{name: "bad name", out: "Bad Name: x\n\n", maxHeader: 1024, err: ErrBadHeaderName},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Every way of cutting the output in two, and byte by byte.
			var splits [][][]byte
			for i := 0; i <= len(c.out); i++ {
				splits = append(splits, [][]byte{[]byte(c.out[:i]), []byte(c.out[i:])})
			}
			var bytewise [][]byte
			for i := 0; i < len(c.out); i++ {
				bytewise = append(bytewise, []byte{c.out[i]})
			}
			splits = append(splits, bytewise)
			for _, chunks := range splits {
				got := feed(chunks, c.maxHeader)
				if errClass(got.err) != c.err {
					t.Fatalf("chunks %q: error %v; want %v", chunks, got.err, c.err)
				}
				if c.err != nil {
					continue
				}
				if got.res == nil || got.res.status != c.status || got.body != c.body {
					t.Fatalf("chunks %q: %+v body %q; want status %d body %q", chunks, got.res, got.body, c.status, c.body)
				}
			}
		})
	}
}

// TestOutputContentLength: a guest's own Content-Length is kept, and a body
// that disagrees with it is the guest's fault (reason invalid), never a
// cut body the client takes for a whole one.
func TestOutputContentLength(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		out     string
		status  int
		body    string
		aborted bool
		reason  Reason
	}{
		{name: "right", method: "GET", out: "Content-Type: text/plain\nContent-Length: 3\n\nok\n", status: 200, body: "ok\n"},
		{name: "short", method: "GET", out: "Content-Type: text/plain\nContent-Length: 100\n\nshort\n", status: 200, body: "short\n", aborted: true, reason: "invalid"},
		{name: "none", method: "GET", out: "Content-Type: text/plain\nContent-Length: 10\n\n", status: 502, reason: "invalid"},
		{name: "long", method: "GET", out: "Content-Type: text/plain\nContent-Length: 4\n\ntoo long\n", status: 200, body: "too ", aborted: true, reason: "invalid"},
		{name: "HEAD without body", method: "HEAD", out: "Content-Type: text/plain\nContent-Length: 10\n\n", status: 200},
		{name: "204 with a length", method: "GET", out: "Status: 204\nContent-Length: 10\n\n", status: 204},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, info, aborted := serveOutput(c.method, c.out, nil)
			if rec.Code != c.status {
				t.Errorf("status %d; want %d", rec.Code, c.status)
			}
			if c.body != "" && rec.Body.String() != c.body {
				t.Errorf("body %q; want %q", rec.Body.String(), c.body)
			}
			if aborted != c.aborted {
				t.Errorf("aborted %v; want %v", aborted, c.aborted)
			}
			if info.Reason != c.reason {
				t.Errorf("reason %q (%v); want %q", info.Reason, info.Err, c.reason)
			}
		})
	}
}

// TestOutputRequestIDWins: the server's X-Request-Id is the one its log
// knows the request by; a guest cannot replace it.
func TestOutputRequestIDWins(t *testing.T) {
	rec, _, _ := serveOutput("GET", "Content-Type: text/plain\nX-Request-Id: guest\n\nok\n", http.Header{"X-Request-Id": {"server"}})
	if got := rec.Header()["X-Request-Id"]; len(got) != 1 || got[0] != "server" {
		t.Errorf("X-Request-Id %q; want [server]", got)
	}
	rec, _, _ = serveOutput("GET", "Content-Type: text/plain\nX-Request-Id: guest\n\nok\n", nil)
	if got := rec.Header().Get("X-Request-Id"); got != "guest" {
		t.Errorf("X-Request-Id %q with no server id; want the guest's", got)
	}
}

// serveOutput serves one request with a Runner that writes out to stdout
// and returns what the client got and whether the response was aborted.
func serveOutput(method, out string, preset http.Header) (rec *httptest.ResponseRecorder, info *Info, aborted bool) {
	h := &Handler{Route: "/x", Module: "m.wasm", Runner: RunnerFunc(func(ctx context.Context, inv *Invocation) error {
		_, err := io.WriteString(inv.Stdout, out)
		if err != nil {
			return fmt.Errorf("exit 1 after EIO: %w", err) // as a C guest would
		}
		return nil
	})}
	rec = httptest.NewRecorder()
	for k, v := range preset {
		rec.Header()[k] = v
	}
	ctx, info := WithInfo(context.Background())
	r := httptest.NewRequest(method, "/x", nil).WithContext(ctx)
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(rec, r)
	return rec, info, false
}
