package router

import (
	"net/http"
	"path/filepath"
	"testing"
)

// TestTenantStrayScriptDoesNotStopOthers: what a tenant keeps in its own
// scripts folder is that tenant's business: a stray .php (or .rb, .pl)
// there, with no interpreter for it on the server, answers 500 for that
// file (as one added after the start does), and never stops the server
// from starting, which would take every other tenant down with it at the
// next restart or reload. unservedScripts failed the whole Build.
func TestTenantStrayScriptDoesNotStopOthers(t *testing.T) {
	const config = `
[[tenant]]
name = "good"
hosts = ["good.test"]
[[tenant.route]]
path = "/s/*"
scripts = "good"

[[tenant]]
name = "careless"
hosts = ["careless.test"]
[[tenant.route]]
path = "/s/*"
scripts = "careless"
`
	for _, stray := range []string{"old/index.php", "notes.rb", "tool.pl", "backup.py"} {
		t.Run(stray, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "good", "hello.wasm"), "")
			writeFile(t, filepath.Join(dir, "careless", "hello.wasm"), "")
			copyFile(t, guest("hello.wasm"), filepath.Join(dir, "good", "hello.wasm"))
			copyFile(t, guest("hello.wasm"), filepath.Join(dir, "careless", "hello.wasm"))
			writeFile(t, filepath.Join(dir, "careless", stray), "x\n")
			if err := buildError(t, dir, config); err != nil {
				t.Fatalf("got %v; want the server to start, tenant good unaffected by tenant careless's %s", err, stray)
			}
			srv, _ := testSite(t, dir, config)
			req, _ := http.NewRequest("GET", srv.URL+"/s/hello.wasm", nil)
			req.Host = "good.test"
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("tenant good: got %d; want 200", res.StatusCode)
			}
		})
	}
}
