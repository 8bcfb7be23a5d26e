package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCGIWholeBodyThenClientCloses: linger.wasm sends a whole response with
// a Content-Length and keeps running (as CPython does while it finalises
// after a WSGI response); the client reads the declared bytes and closes.
// The client got its whole response, so the request is a success in the
// log, not "client went away".
func TestCGIWholeBodyThenClientCloses(t *testing.T) {
	srv, logs := testSite(t, "", `
[[route]]
path = "/linger"
module = "linger.wasm"
timeout = "60s"
env = { LINGER_MS = "3000" }
`)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /linger HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, res.ContentLength)
	if _, err := io.ReadFull(res.Body, body); err != nil || string(body) != "hello\n" {
		t.Fatalf("body %q, %v; want hello\\n", body, err)
	}
	conn.Close()

	var ev map[string]any
	for deadline := time.Now().Add(20 * time.Second); ev == nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		ev = accessEvent(t, logs, "/linger")
	}
	if ev == nil {
		t.Fatal("no access log event for /linger within 20 s")
	}
	if ev["status"] != float64(200) || ev["reason"] != nil || ev["level"] == "error" || ev["aborted"] == true {
		t.Errorf("access log status=%v reason=%v level=%v aborted=%v error=%v; want 200, no reason, not an error",
			ev["status"], ev["reason"], ev["level"], ev["aborted"], ev["error"])
	}
	n := 0
	for _, e := range logEvents(t, logs) {
		if e["path"] == "/linger" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d log events for /linger; want 1", n)
	}
}
