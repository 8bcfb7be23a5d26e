package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunScript: `wasigate run -c FILE script.py TARGET` runs the script
// with the configuration's .py interpreter, SCRIPT_NAME its name and
// PATH_INFO and the query from TARGET; without an interpreter for the
// extension it says which is missing.
func TestRunScript(t *testing.T) {
	dist := filepath.Join("..", "..", "samples", "python", "dist")
	if _, err := os.Stat(filepath.Join(dist, "python.wasm")); err != nil {
		t.Skip("python not installed: bash samples/python/install.sh")
	}
	dist, _ = filepath.Abs(dist)
	cfg := writeConfig(t, "wasigate.toml", `
[[interpreter]]
ext = ".py"
module = "`+filepath.Join(dist, "python.wasm")+`"
volumes = { "/usr/local/lib/python3.11" = "`+filepath.Join(dist, "lib", "python3.11")+`" }
`)
	dir := t.TempDir()
	script := filepath.Join(dir, "hello.py")
	if err := os.WriteFile(script, []byte("import os\nprint('Content-Type: text/plain\\n')\nprint('hi', os.environ['SCRIPT_NAME'], os.environ['PATH_INFO'], os.environ['QUERY_STRING'])\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := wasigate(t, "", "run", "-c", cfg, script, "/a/b?x=1")
	if code != 0 || !strings.HasPrefix(stdout, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(stdout, "\r\n\r\nhi /hello.py /a/b x=1\n") {
		t.Fatalf("exit %d, stdout %q; want 0 and the script's answer (stderr %s)", code, stdout, stderr)
	}
	rb := filepath.Join(dir, "x.rb")
	if err := os.WriteFile(rb, []byte("puts 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = wasigate(t, "", "run", "-c", cfg, rb)
	if code != 1 || !strings.Contains(stderr, `no [[interpreter]] with ext = ".rb"`) {
		t.Errorf("exit %d, stderr %q; want 1 naming the missing .rb interpreter", code, stderr)
	}
}
