package router

import (
	"strings"
	"testing"
)

func TestHelloOverHTTP(t *testing.T) {
	srv, logs := testSite(t, "", `
[[route]]
path = "/hello"
module = "hello.wasm"
`)
	res, body := get(t, srv.URL+"/hello")
	if res.StatusCode != 200 {
		t.Fatalf("status %d; want 200", res.StatusCode)
	}
	if body != "hello\n" {
		t.Errorf("body %q; want %q", body, "hello\n")
	}
	if got := res.Header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("Content-Type %q; want text/plain", got)
	}
	if !strings.Contains(logs.String(), `"route":"/hello"`) {
		t.Errorf("access log has no route: %s", logs)
	}
}
