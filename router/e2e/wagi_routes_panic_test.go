package e2e_test

import (
	"errors"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/wasi/cgi"
)

// TestWAGIRoutesPatternNeverPanics: a module's _routes answer is the
// module's text, not the operator's: a path chi cannot route (a broken
// regexp, a wildcard before the end, a parameter twice, an unclosed
// brace) fails the start with an ErrRoutesAnswer naming the line, never a
// panic out of Build, which took down serve, and a reload, with it.
func TestWAGIRoutesPatternNeverPanics(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, text string }{
		{"broken regexp", "/a/{x:[} alpha\n"},
		{"wildcard in the middle", "/a/*/b alpha\n"},
		{"parameter twice", "/{a}/{a} alpha\n"},
		{"unclosed brace", "/{a alpha\n"},
	}
	eng, _ := sharedEngine(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("p%d", i)
			routesModule(t, dir, name, c.text)
			toml := fmt.Sprintf("[[module]]\nroute = \"/r/...\"\nmodule = %q\n", filepath.Join(dir, name+".wasm"))
			cfg, err := router.ParseConfig(strings.NewReader(toml), filepath.Join(dir, "modules.toml"))
			if err != nil {
				t.Fatal(err)
			}
			var site *router.Site
			panicked := func() (p any) {
				defer func() { p = recover() }()
				site, err = router.Build(t.Context(), cfg, router.Options{Loader: &cgi.Loader{Engine: eng}, Log: zerolog.Nop()})
				return nil
			}()
			if panicked != nil {
				t.Fatalf("got a panic out of Build: %v; want an ErrRoutesAnswer error for %q", panicked, c.text)
			}
			if err == nil {
				site.Close(t.Context())
				t.Fatalf("Build succeeded; want the _routes answer %q refused", c.text)
			}
			if !errors.Is(err, router.ErrRoutesAnswer) {
				t.Errorf("got error %v; want it to wrap ErrRoutesAnswer", err)
			}
		})
	}
}
