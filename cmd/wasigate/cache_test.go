package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCacheDirRefused: a cache folder another user owns or others may
// write to stops check (and serve, which shares its setup) with a message
// naming the folder and why; --insecure-cache lifts it with a warning
// (cmd/wasigate/DECISIONS.md#the-cache-is-the-servers-alone-and-signed).
func TestCacheDirRefused(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, cache string)
		why   string
	}{
		{"world-writable", func(t *testing.T, cache string) {
			if err := os.Chmod(cache, 0o777); err != nil {
				t.Fatal(err)
			}
		}, "writable by group or others"},
		{"world-writable subfolder", func(t *testing.T, cache string) {
			if err := os.MkdirAll(filepath.Join(cache, "wazero"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(cache, "wazero"), 0o757); err != nil {
				t.Fatal(err)
			}
		}, "writable by group or others"},
		{"foreign owner", func(t *testing.T, cache string) {
			if os.Getuid() != 0 {
				t.Skip("chown needs root")
			}
			if err := os.Chown(cache, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "is owned by uid 65534"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(cache, 0o700); err != nil {
				t.Fatal(err)
			}
			c.setup(t, cache)
			cfg := writeConfig(t, "wasigate.toml", "cache_dir = "+strconv.Quote(cache)+"\n[[route]]\npath = \"/hello\"\nmodule = \"{guests}/hello.wasm\"\n")
			code, stdout, stderr := wasigate(t, "", "check", "-c", cfg)
			if code != 1 || !strings.Contains(stderr, "cache_dir "+cache) || !strings.Contains(stderr, c.why) {
				t.Errorf("exit %d, stderr %q; want 1 and a message naming %s and %q", code, stderr, cache, c.why)
			}
			code, stdout, stderr = wasigate(t, "", "check", "--insecure-cache", "-c", cfg)
			if code != 0 || !strings.Contains(stdout, "cache: "+cache+": INSECURE") || !strings.Contains(stderr, "insecure cache") {
				t.Errorf("--insecure-cache: exit %d, stdout %q, stderr %q; want 0, the state and a warning", code, stdout, stderr)
			}
		})
	}
}

// TestNoCacheDirWithoutHome: with no user cache folder and no cache_dir,
// wasigate refuses rather than use /tmp, where others could plant cached
// machine code.
func TestNoCacheDirWithoutHome(t *testing.T) {
	cfg := writeConfig(t, "wasigate.toml", "[[route]]\npath = \"/hello\"\nmodule = \"{guests}/hello.wasm\"\n")
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	var stdout, stderr strings.Builder
	code := doMain([]string{"check", "-c", cfg}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "set cache_dir") {
		t.Errorf("exit %d, stderr %q; want 1 and a message asking for cache_dir", code, stderr.String())
	}
}
