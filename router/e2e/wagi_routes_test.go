package e2e_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi/cgi"
)

// routesModule writes a WAT module whose _routes prints text, built to
// .wasm with wat2wasm, and returns the .wasm's path.
func routesModule(t *testing.T, dir, name, text string) string {
	t.Helper()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		if requireToolchains() {
			t.Fatal("wat2wasm not found (apt-get install wabt)")
		}
		t.Skip("SKIPPED: wat2wasm not found (apt-get install wabt); the _routes answers are not tested")
	}
	src := fmt.Sprintf(`(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\n\nstart\n")
  (data (i32.const 64) %q)
  (func $write (param i32 i32)
    (i32.store (i32.const 0) (local.get 0))
    (i32.store (i32.const 4) (local.get 1))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $write (i32.const 16) (i32.const 32)))
  (func (export "alpha") (call $write (i32.const 16) (i32.const 32)))
  (func (export "_routes") (call $write (i32.const 64) (i32.const %d))))
`, text, len(text))
	wat := filepath.Join(dir, name+".wat")
	if err := os.WriteFile(wat, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".wasm")
	if b, err := exec.Command(wat2wasm, wat, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v: %s", err, b)
	}
	return out
}

// TestWAGIRoutesAnswerRefused: a module whose _routes prints a line that
// is not two columns, or no route at all, fails the start (Build, which
// serve, reload and check all run) with an error naming the file, the
// route and the module, as WAGI refuses it; the site is not served.
func TestWAGIRoutesAnswerRefused(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, text, want string
	}{
		{"one column", "/a alpha\n/c\n", `line 2 "/c" has 1 columns`},
		{"three columns", "/a alpha _start\n", `line 1 "/a alpha _start" has 3 columns`},
		{"empty", "", "no routes"},
		{"blank lines only", "\n\n", "no routes"},
	}
	eng, _ := sharedEngine(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("r%d", i)
			routesModule(t, dir, name, c.text)
			toml := fmt.Sprintf("[[module]]\nroute = \"/r/...\"\nmodule = %q\n", filepath.Join(dir, name+".wasm"))
			cfg, err := router.ParseConfig(strings.NewReader(toml), filepath.Join(dir, "modules.toml"))
			if err != nil {
				t.Fatal(err)
			}
			site, err := router.Build(t.Context(), cfg, router.Options{Loader: &cgi.Loader{Engine: eng}, Log: zerolog.Nop()})
			if err == nil {
				site.Close(t.Context())
				t.Fatalf("Build succeeded; want the _routes answer %q refused", c.text)
			}
			if !errors.Is(err, router.ErrRoutesAnswer) {
				t.Errorf("error %v; want it to wrap ErrRoutesAnswer", err)
			}
			for _, w := range []string{"modules.toml", `route #1 "/r/*"`, "module " + filepath.Join(dir, name+".wasm"), c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to name %q", err, w)
				}
			}
		})
	}
	// The well-formed answer still serves, with its sub-route.
	ok := routesModule(t, dir, "ok", "/a alpha\n")
	srv, _ := testSite(t, dir, fmt.Sprintf("[[module]]\nroute = \"/r/...\"\nmodule = %q\n", ok))
	if res, body := get(t, srv.URL+"/r/a"); res.StatusCode != 200 || body != "start\n" {
		t.Errorf("/r/a: got %d %q; want 200 \"start\\n\"", res.StatusCode, body)
	}
}
