package e2e_test

import (
	"context"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi/cgi"
)

// TestScriptsRubySnapshot: a Ruby script's requests are served from a
// snapshot taken after ruby-init and the preload list
// (cmd/wasigate/DECISIONS.md#interpreters-start-from-a-snapshot-of-their-start-up),
// and each still sees its own state: a global counter at 1, its own rand
// and time, its own ENV (a hostile header value verbatim), ARGV and $0.
func TestScriptsRubySnapshot(t *testing.T) {
	needRuby(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "iso.rb"), `$count = ($count || 0) + 1
print "Content-Type: text/plain\n\n"
puts $count, rand(1 << 60), Time.now.to_r, ARGV.inspect, $0, ENV["HTTP_X_T"].inspect, defined?(CGI).inspect
`)
	config := fmt.Sprintf(`
[[interpreter]]
ext = ".rb"
module = %q
preload = ["cgi"]

[[route]]
path = "/s/*"
scripts = "scripts"


`, rubyWasm)
	cfg, err := router.ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	site, err := router.Build(context.Background(), cfg, router.Options{Loader: &cgi.Loader{Engine: scriptsEngine(t)}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	// What `wasigate check` prints and the startup log says.
	if len(site.Routes) != 1 || len(site.Routes[0].Interpreters) != 1 || site.Routes[0].Interpreters[0].Ext != ".rb" ||
		!strings.HasPrefix(site.Routes[0].Interpreters[0].Snapshot.String(), "snapshot: ") {
		t.Fatalf("routes %+v; want /s/* with a snapshot", site.Routes)
	}
	srv := httptest.NewServer(site.Handler)
	defer srv.Close()
	hostile := `a'b"c\d#{exit!(7)}\n`
	get := func(word string) []string {
		t.Helper()
		res, body := doRaw(t, "GET", srv.URL, "/s/iso.rb?"+word, "", http.Header{"X-T": {hostile + word}})
		if res.StatusCode != 200 {
			t.Fatalf("status %d; want 200 (%s)", res.StatusCode, body)
		}
		return strings.Split(body, "\n")
	}
	a, b := get("w1"), get("w2")
	if len(a) < 7 || len(b) < 7 {
		t.Fatalf("bodies %q, %q; want 7 lines", a, b)
	}
	if a[0] != "1" || b[0] != "1" {
		t.Errorf("$count = %s, %s; want 1 in each request", a[0], b[0])
	}
	if a[1] == b[1] || a[2] == b[2] {
		t.Errorf("rand, Time.now = %s %s, %s %s; want each request's own", a[1], a[2], b[1], b[2])
	}
	for i, l := range [][]string{a, b} {
		w := fmt.Sprintf("w%d", i+1)
		if want := `["` + w + `"]`; l[3] != want {
			t.Errorf("ARGV = %s; want %s", l[3], want)
		}
		if want := router.ScriptsGuestDir + "/iso.rb"; l[4] != want {
			t.Errorf("$0 = %s; want %s", l[4], want)
		}
		if want := `"a'b\"c\\d\#{exit!(7)}\\n` + w + `"`; l[5] != want {
			t.Errorf("ENV[HTTP_X_T] = %s; want %s", l[5], want)
		}
		if l[6] != `"constant"` {
			t.Errorf("defined?(CGI) = %s; want \"constant\" (preloaded)", l[6])
		}
	}
}
