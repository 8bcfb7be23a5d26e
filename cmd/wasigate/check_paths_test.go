package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefusesCacheDirReach: wasigate check (and serve, through the
// same setup) refuses a volume that reaches the cache folder it resolved,
// here the default one under XDG_CACHE_HOME that the file never names,
// and the error names the file, the route and the fix.
func TestCheckRefusesCacheDirReach(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	cache := filepath.Join(xdg, "wasigate")
	cases := []struct {
		name, volume string
		want         []string
	}{
		{"the cache folder", cache, []string{`route #1 "/x": volume /c`, "is cache_dir " + cache, "mount a folder outside it"}},
		{"a folder containing it", xdg, []string{"contains cache_dir " + cache}},
		{"the host's root", "/", []string{"allow_root = true"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeConfig(t, "wasigate.toml", "[[route]]\npath = \"/x\"\nmodule = \"{guests}/hello.wasm\"\nvolumes = { \"/c\" = "+`"`+c.volume+`"`+" }\n")
			var stdout, stderr bytes.Buffer
			code := doMain([]string{"check", "-c", cfg}, strings.NewReader(""), &stdout, &stderr)
			if code != 1 {
				t.Fatalf("exit %d; want 1 (stdout %q, stderr %q)", code, stdout.String(), stderr.String())
			}
			for _, w := range append([]string{cfg}, c.want...) {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q; want it to contain %q", stderr.String(), w)
				}
			}
		})
	}
}

// TestCheckRefusesBadRoutesAnswer: a WAGI module whose _routes prints a
// one-column line fails check, naming the module.
func TestCheckRefusesBadRoutesAnswer(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
			t.Fatal("wat2wasm not found (apt-get install wabt)")
		}
		t.Skip("SKIPPED: wat2wasm not found (apt-get install wabt)")
	}
	dir := t.TempDir()
	wat := filepath.Join(dir, "r.wat")
	src := `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/a\n")
  (func (export "_start"))
  (func (export "_routes")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
`
	if err := os.WriteFile(wat, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(dir, "r.wasm")
	if b, err := exec.Command(wat2wasm, wat, "-o", mod).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v: %s", err, b)
	}
	cfg := writeConfig(t, "modules.toml", "[[module]]\nroute = \"/r/...\"\nmodule = \""+mod+"\"\n")
	code, stdout, stderr := wasigate(t, "", "check", "-c", cfg)
	if code != 1 {
		t.Fatalf("exit %d; want 1 (stdout %q, stderr %q)", code, stdout, stderr)
	}
	for _, w := range []string{cfg, "module " + mod, `malformed _routes answer: line 1 "/a" has 1 columns`} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q; want it to contain %q", stderr, w)
		}
	}
}
