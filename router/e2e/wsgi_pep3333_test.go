package e2e_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pep3333Apps exercise what PEP 3333 asks of a server.
var pep3333Apps = map[string]string{
	// write(), then iterable chunks, then close(): close's mark goes to
	// stderr, which the host logs.
	"pep.wsgi": `import sys
class Body:
    def __init__(self, environ):
        self.environ = environ
    def __iter__(self):
        yield b"one,"
        yield b""
        yield b"two\n"
    def close(self):
        print("close-called " + self.environ["PATH_INFO"], file=self.environ["wsgi.errors"])
def application(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/headers":
        write = start_response("201 Created", [("Content-Type", "text/plain"), ("X-A", "1"), ("X-A", "2")])
        write(b"written,")
        return Body(environ)
    if p == "/excinfo":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("secret-excinfo")
        except ValueError:
            start_response("503 Busy", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced\n"]
    if p == "/badstatus":
        start_response("OK", [("Content-Type", "text/plain")])
        return [b"x"]
    if p == "/badheader":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Bad", "a\r\nSet-Cookie: x=1")])
        return [b"x"]
    if p == "/hop":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
        return [b"x"]
    if p == "/raise-in-body":
        return Body2(environ, start_response)
    if p == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        import time
        def gen():
            for i in range(3):
                yield b"chunk %d\n" % i
                time.sleep(0.3)
        return gen()
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"?"]
class Body2(Body):
    def __init__(self, environ, start_response):
        Body.__init__(self, environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
    def __iter__(self):
        yield b"partial"
        raise RuntimeError("secret-midway")
`,
}

// TestWSGIConformance: status and repeated headers, write(), chunks,
// close() always called, exc_info replacing a response not yet sent, bad
// status or headers answered 502 "invalid", an exception mid-body
// aborting the connection, and chunks streamed as they come.
func TestWSGIConformance(t *testing.T) {
	for name, src := range pep3333Apps {
		wsgiTestApps[name] = src
	}
	defer func() {
		for name := range pep3333Apps {
			delete(wsgiTestApps, name)
		}
	}()
	base, _, logs := wsgiSite(t, "")
	wsgiLoaded(t, base+"/s/pep.wsgi")

	res, err := http.Get(base + "/s/pep.wsgi/headers")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := bufio.NewReader(res.Body).ReadString(0)
	res.Body.Close()
	if res.StatusCode != 201 || body != "written,one,two\n" || strings.Join(res.Header.Values("X-A"), ",") != "1,2" {
		t.Errorf("headers: got %d %q X-A=%q; want 201 %q X-A=1,2", res.StatusCode, body, res.Header.Values("X-A"), "written,one,two\n")
	}
	if code, body := wsgiDo(t, "GET", base+"/s/pep.wsgi/excinfo", "", nil); code != 503 || body != "replaced\n" {
		t.Errorf("exc_info: got %d %q; want 503 %q", code, body, "replaced\n")
	}
	for _, p := range []string{"/badstatus", "/badheader", "/hop"} {
		code, body := wsgiDo(t, "GET", base+"/s/pep.wsgi"+p, "", nil)
		if code != http.StatusBadGateway || strings.Contains(body, "Set-Cookie") {
			t.Errorf("%s: got %d %q; want 502", p, code, body)
		}
	}
	if n := strings.Count(logs.String(), `"reason":"invalid"`); n != 3 {
		t.Errorf("want 3 requests logged with reason invalid, got %d:\n%s", n, logs)
	}
	// An exception after the response started: the client must not take
	// the cut body for a whole one.
	if res, err := http.Get(base + "/s/pep.wsgi/raise-in-body"); err == nil {
		b, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr == nil {
			t.Errorf("raise-in-body: got %q ending cleanly; want the connection aborted", b)
		}
	}
	l := logs.String()
	for _, want := range []string{"close-called /headers", "close-called /raise-in-body", "secret-midway"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}

	// Streaming: the first chunk arrives before the last is written.
	start := time.Now()
	res, err = http.Get(base + "/s/pep.wsgi/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	first, _ := rd.ReadString('\n')
	firstAt := time.Since(start)
	rest, _ := rd.ReadString(0)
	all := time.Since(start)
	if first != "chunk 0\n" || rest != "chunk 1\nchunk 2\n" {
		t.Errorf("stream: got %q then %q", first, rest)
	}
	if all-firstAt < 400*time.Millisecond {
		t.Errorf("stream: the first chunk came %v before the end (%v, %v); want it streamed, not buffered", all-firstAt, firstAt, all)
	}
}

// TestWSGISamples: the sample applications of samples/scripts answer.
func TestWSGISamples(t *testing.T) {
	base, _, logs := wsgiSite(t, "")
	for _, c := range []struct{ app, want string }{
		{"hello.wsgi", "hello, ada, from WSGI (GET http)\n"},
		{"flask.wsgi", "hello, ada, from Flask"},
		{"webpy.wsgi", "hello, ada, from web.py"},
		{"bottle.wsgi", "hello, ada, from Bottle"},
	} {
		wsgiLoaded(t, base+"/s/"+c.app)
		if code, body := wsgiDo(t, "GET", base+"/s/"+c.app+"/ada", "", nil); code != 200 || !strings.HasPrefix(body, c.want) {
			t.Errorf("%s: got %d %q; want 200 %q\nlog:\n%s", c.app, code, body, c.want, logs)
		}
	}
}
