package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunScriptBesideOthers: `wasigate run -c FILE script.py` runs one
// script, whatever else its folder holds: a Ruby file beside it with no
// .rb interpreter configured, or the cache folder (~/hello.py with
// cache_dir ~/.cache/wasigate) does not stop it. scriptConfig served the
// script's whole folder as a scripts route, so that Build walked it and
// refused the folder for what it held.
func TestRunScriptBesideOthers(t *testing.T) {
	dist := filepath.Join("..", "..", "samples", "python", "dist")
	if _, err := os.Stat(filepath.Join(dist, "python.wasm")); err != nil {
		t.Skip("python not installed: bash samples/python/install.sh")
	}
	dist, _ = filepath.Abs(dist)
	interp := `
[[interpreter]]
ext = ".py"
module = "` + filepath.Join(dist, "python.wasm") + `"
volumes = { "/usr/local/lib/python3.11" = "` + filepath.Join(dist, "lib", "python3.11") + `" }
`
	cases := []struct {
		name  string
		files map[string]string // beside hello.py
		cache bool              // cache_dir in the script's folder
	}{
		{"a Ruby file beside it", map[string]string{"notes.rb": "puts 1\n"}, false},
		{"a PHP file in a subfolder", map[string]string{"old/index.php": "<?php echo 1;\n"}, false},
		{"cache_dir inside its folder", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			script := filepath.Join(dir, "hello.py")
			if err := os.WriteFile(script, []byte("print('Content-Type: text/plain\\n')\nprint('hi')\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for name, text := range c.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text := interp
			if c.cache {
				text = "cache_dir = " + `"` + filepath.Join(dir, ".cache", "wasigate") + `"` + "\n" + interp
			}
			cfg := writeConfig(t, "wasigate.toml", text)
			code, stdout, stderr := wasigate(t, "", "run", "-c", cfg, script)
			if c.cache {
				// The script's folder is mounted for it: a folder holding
				// cache_dir would hand the script the cache's signing key.
				// Refused, naming the way out.
				if code != 1 || !strings.Contains(stderr, "reaches cache_dir") || !strings.Contains(stderr, "outside") {
					t.Errorf("got exit %d, stderr %q; want 1 and a refusal naming cache_dir and the way out", code, stderr)
				}
				return
			}
			if code != 0 || !strings.HasSuffix(stdout, "\r\n\r\nhi\n") {
				t.Errorf("got exit %d, stdout %q, stderr %q; want 0 and the script's answer", code, stdout, stderr)
			}
		})
	}
}
