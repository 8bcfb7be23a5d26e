package e2e_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestPythonNotInstalled: with optional = true, until the install command
// has run, .py scripts answer 500 naming it, and the site's other scripts
// work (without it the start fails naming it: TestPythonCheckFailures).
func TestPythonNotInstalled(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "hello.py"), "print('Content-Type: text/plain\\n\\nhi')\n")
	copyFile(t, guest("hello.wasm"), filepath.Join(dir, "scripts", "hello.wasm"))
	srv, logs := scriptsSite(t, dir, `
[[interpreter]]
ext = ".py"
module = "python/dist/python.wasm"
install = "bash samples/python/install.sh"
optional = true
volumes = { "/usr/local/lib/python3.11" = "python/dist/lib/python3.11" }

[[route]]
path = "/s/*"
scripts = "scripts"
`)
	res, body := get(t, srv.URL+"/s/hello.py")
	if want := "install it with: bash samples/python/install.sh"; res.StatusCode != http.StatusInternalServerError || !strings.Contains(body, want) {
		t.Errorf("hello.py: got %d %q; want 500 naming %q\nlog: %s", res.StatusCode, body, want, logs)
	}
	if res, body := get(t, srv.URL+"/s/hello.wasm"); res.StatusCode != 200 || body != "hello\n" {
		t.Errorf("hello.wasm: got %d %q; want 200 hello", res.StatusCode, body)
	}
}
