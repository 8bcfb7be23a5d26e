package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCheckWSGIApplication: `wasigate check` loads a scripts folder's
// WSGI application (samples/scripts/hello.wsgi) and reports what its
// snapshot costs, each figure named: the image's size, mapped or copied,
// the init's time and the warm-up requests' time apart from it.
func TestCheckWSGIApplication(t *testing.T) {
	dist, _ := filepath.Abs(filepath.Join("..", "..", "samples", "python", "dist"))
	if _, err := os.Stat(filepath.Join(dist, "python.wasm")); err != nil {
		t.Skip("python not installed: bash samples/python/install.sh")
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "samples", "scripts", "hello.wsgi"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scripts, "hello.wsgi"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "wasigate.toml")
	text := `
[[interpreter]]
ext = ".py"
module = "` + filepath.Join(dist, "python.wasm") + `"
volumes = { "/usr/local/lib/python3.11" = "` + filepath.Join(dist, "lib", "python3.11") + `" }

[[route]]
path = "/s/*"
scripts = "scripts"
warmup = ["/", "/warm"]
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := wasigate(t, "", "check", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d; want 0 (stdout %q, stderr %q)", code, stdout, stderr)
	}
	if want := "WSGI applications: 1 loaded for this check, one at a time, each init bounded by snapshot_init_timeout (30s)\n"; !strings.Contains(stdout, want) {
		t.Errorf("stdout %q; want it to say the applications were loaded, with %q", stdout, want)
	}
	line := regexp.MustCompile(`(?m)^/s/\* \(scripts/hello\.wsgi WSGI application\): image ([0-9.]+) MB (mapped copy-on-write|copied per instance)(, [0-9.]+ [KM]?B machine code)?, init (\S+), warm-up (\S+)$`).FindStringSubmatch(stdout)
	if line == nil {
		t.Fatalf("stdout %q; want a line for scripts/hello.wsgi naming its image, mapping, init and warm-up", stdout)
	}
	// CPython with the adapter imported: tens of megabytes, not a
	// handful of pages, nor more than the default memory limit.
	if mb, _ := strconv.ParseFloat(line[1], 64); mb < 4 || mb > 256 {
		t.Errorf("image %s MB; want between 4 and 256", line[1])
	}
	init, err := time.ParseDuration(line[4])
	if err != nil || init <= 0 || init > 30*time.Second {
		t.Errorf("init %q; want a duration within snapshot_init_timeout", line[4])
	}
	warm, err := time.ParseDuration(line[5])
	if err != nil || warm <= 0 || warm > init {
		// Two GETs of a hello are far shorter than CPython's start.
		t.Errorf("warm-up %q; want a duration, shorter than the init %s", line[5], init)
	}
}
