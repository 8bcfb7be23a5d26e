package router

import (
	"net/http"
	"strings"
	"testing"
)

// TestMethodsSplitAcrossRoutes: one path may be served by several routes,
// each listing its methods; methods chi does not know (PROPFIND, MKCOL)
// each reach the route that lists them. All of them shared chi's one
// other-methods slot of the pattern, so the last route registered took
// it and answered 405 to the first route's methods.
func TestMethodsSplitAcrossRoutes(t *testing.T) {
	srv, _ := testSite(t, "", `
[[route]]
path = "/dav"
module = "hello.wasm"
methods = ["PROPFIND"]

[[route]]
path = "/dav"
module = "env.wasm"
methods = ["MKCOL"]
`)
	cases := []struct {
		method string
		status int
		body   string // a part of the answer
	}{
		{"PROPFIND", 200, "hello"},
		{"MKCOL", 200, "REQUEST_METHOD=MKCOL"},
		{"REPORT", 405, ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+"/dav", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res)
		if res.StatusCode != c.status || !strings.Contains(body, c.body) {
			t.Errorf("%s /dav: got %d %q; want %d with %q", c.method, res.StatusCode, body, c.status, c.body)
		}
	}
}
