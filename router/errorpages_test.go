package router

import (
	"bufio"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestErrorPages: [errors] pages answer the server's own errors with the
// configured file and the real status, at server level and per tenant (the
// tenant's over the server's); the access log keeps the real reason, which
// the page must not hide from the operator.
func TestErrorPages(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pages", "404.html"), "<p>site 404</p>\n")
	writeFile(t, filepath.Join(dir, "pages", "502.txt"), "site 502\n")
	writeFile(t, filepath.Join(dir, "pages", "504.html"), "<p>site 504</p>\n")
	writeFile(t, filepath.Join(dir, "pages", "acme404.html"), "<p>acme 404</p>\n")
	srv, logs := testSite(t, dir, `
[errors]
404 = "pages/404.html"
502 = "pages/502.txt"
504 = "pages/504.html"

[[route]]
path = "/loop"
module = `+q(guest("loop.wasm"))+`
timeout = "200ms"

[[route]]
path = "/status"
module = `+q(guest("status.wasm"))+`

[[tenant]]
name = "acme"
hosts = ["acme.test"]
errors = { 404 = "pages/acme404.html" }

[[tenant.route]]
path = "/loop"
module = `+q(guest("loop.wasm"))+`
timeout = "200ms"
`)
	cases := []struct {
		name, host, target string
		status             int
		body, ctype        string
		reason             string
	}{
		{"no route", "", "/nothing", 404, "<p>site 404</p>\n", "text/html; charset=utf-8", "no route"},
		{"timeout", "", "/loop", 504, "<p>site 504</p>\n", "text/html; charset=utf-8", "timeout"},
		{"invalid guest output", "", "/status?nostatus", 502, "site 502\n", "text/plain; charset=utf-8", "invalid"},
		{"guest's own status passes", "", "/status?teapot", 418, "teapot\n", "", ""},
		{"tenant's page", "acme.test", "/nothing", 404, "<p>acme 404</p>\n", "text/html; charset=utf-8", "no route"},
		{"tenant falls back to the server's", "acme.test", "/loop", 504, "<p>site 504</p>\n", "text/html; charset=utf-8", "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+c.target, nil)
			if c.host != "" {
				req.Host = c.host
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b := readAll(t, res)
			if res.StatusCode != c.status || b != c.body {
				t.Errorf("got %d %q; want %d %q", res.StatusCode, b, c.status, c.body)
			}
			if c.ctype != "" && res.Header.Get("Content-Type") != c.ctype {
				t.Errorf("got Content-Type %q; want %q", res.Header.Get("Content-Type"), c.ctype)
			}
			if c.reason == "" {
				return
			}
			var found int
			for _, ev := range requestEvents(t, logs, res.Header.Get("X-Request-Id")) {
				if ev.str("reason") != "" {
					found++
					if ev.str("reason") != c.reason || ev["status"] != float64(c.status) || (c.host != "" && ev.str("tenant") != "acme") {
						t.Errorf("got event %v; want reason %q, status %d", ev, c.reason, c.status)
					}
				}
			}
			if found != 1 {
				t.Errorf("got %d request events with reason %q and status %d; want 1 (log %s)", found, c.reason, c.status, logs)
			}
		})
	}
}

// TestErrorPagesConfig: a status without a page or a missing file fails
// at startup, naming the file (and the tenant).
func TestErrorPagesConfig(t *testing.T) {
	cases := []struct{ name, config, want string }{
		{"status without a page", "[errors]\n418 = \"x.html\"\n", `errors: "418" is not a status with a page`},
		{"tenant status", "[[tenant]]\nname = \"a\"\nhosts = [\"a.test\"]\nerrors = { 200 = \"x.html\" }\n", `tenant #1 "a": errors: "200"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(c.config), "/site/test.toml")
			if err == nil || !strings.Contains(err.Error(), "/site/test.toml") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want an error naming the file and %q", err, c.want)
			}
		})
	}
	cfg, err := ParseConfig(strings.NewReader("[errors]\n404 = \"missing.html\"\n[[route]]\npath = \"/x\"\nmodule = "+q(guest("hello.wasm"))+"\n"), filepath.Join(t.TempDir(), "test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(t.Context(), cfg, Options{Loader: &fakeLoader{}})
	if err == nil || !strings.Contains(err.Error(), "missing.html") || !strings.Contains(err.Error(), "errors: 404") {
		t.Errorf("got %v; want a build error naming errors: 404 and missing.html", err)
	}
}

// q quotes a string for TOML.
func q(s string) string { return strconv.Quote(s) }

// TestErrorPagesKeepStreaming: with error pages set, a guest's streamed
// body still arrives as written (the page writer passes flushes on).
func TestErrorPagesKeepStreaming(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "404.html"), "page\n")
	srv, _ := testSite(t, dir, "[errors]\n404 = \"404.html\"\n[[route]]\npath = \"/slow\"\nmodule = "+q(guest("slowbody.wasm"))+"\n")
	start := time.Now()
	res, err := http.Get(srv.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if first := time.Since(start); err != nil || line != "line 1\n" || first > 600*time.Millisecond {
		t.Errorf("got first line %q (%v) after %v; want \"line 1\\n\" well before the 800 ms body ends", line, err, first)
	}
}
