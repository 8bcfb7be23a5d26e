package router

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A module's _routes answer is the module's text, not the operator's: the
// router refuses a malformed one, or one chi cannot route, at Build (which
// serve, reload and check all run), naming the file, the route and the
// module. On the fake loader, a fake guest's _routes export prints the
// answer (router/e2e/wagi_routes_test.go builds real modules with
// wat2wasm).

// routesGuest writes a fake guest whose _routes prints text and whose
// _start and alpha print "start", and returns its path.
func routesGuest(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name+".wasm")
	writeFakeGuest(t, p, writes("start\n"), "export _routes "+strconv.Quote(text),
		"export alpha "+strconv.Quote("Content-Type: text/plain\n\nalpha\n"))
	return p
}

// buildModulesToml builds a WAGI modules.toml serving module at /r/...,
// and returns what Build panicked with, if it did, and its error (nil if
// the site started, then closed).
func buildModulesToml(t *testing.T, dir, module string) (panicked any, err error) {
	t.Helper()
	toml := fmt.Sprintf("[[module]]\nroute = \"/r/...\"\nmodule = %q\n", module)
	cfg, err := ParseConfig(strings.NewReader(toml), filepath.Join(dir, "modules.toml"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { panicked = recover() }()
	site, err := Build(t.Context(), cfg, Options{Loader: &fakeLoader{}, Log: zerolog.Nop()})
	if err == nil {
		_ = site.Close(t.Context())
	}
	return nil, err
}

// TestWAGIRoutesAnswerRefused: a module whose _routes prints a line that
// is not two columns, or no route at all, fails the start with an error
// naming the file, the route and the module, as WAGI refuses it; a
// well-formed answer serves its sub-routes.
func TestWAGIRoutesAnswerRefused(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, text, want string
	}{
		{"one column", "/a alpha\n/c\n", `line 2 "/c" has 1 columns`},
		{"three columns", "/a alpha _start\n", `line 1 "/a alpha _start" has 3 columns`},
		{"empty", "", "no routes"},
		{"blank lines only", "\n\n", "no routes"},
		{"relative path", "a alpha\n", `path "a" must start with /`},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mod := routesGuest(t, dir, fmt.Sprintf("r%d", i), c.text)
			panicked, err := buildModulesToml(t, dir, mod)
			if panicked != nil || err == nil {
				t.Fatalf("got panic %v, error %v; want the _routes answer %q refused", panicked, err, c.text)
			}
			if !errors.Is(err, ErrRoutesAnswer) {
				t.Errorf("got error %v; want it to wrap ErrRoutesAnswer", err)
			}
			for _, w := range []string{"modules.toml", `route #1 "/r/*"`, "module " + mod, c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q; want it to name %q", err, w)
				}
			}
		})
	}
	ok := routesGuest(t, dir, "ok", "/a alpha\n")
	srv, _ := testSite(t, dir, fmt.Sprintf("[[module]]\nroute = \"/r/...\"\nmodule = %q\n", ok))
	for target, want := range map[string]string{"/r/a": "alpha\n", "/r/other": "start\n"} {
		if res, body := get(t, srv.URL+target); res.StatusCode != 200 || body != want {
			t.Errorf("%s: got %d %q; want 200 %q", target, res.StatusCode, body, want)
		}
	}
}

// TestWAGIRoutesPatternNeverPanics: a path chi cannot route (a broken
// regexp, a wildcard before the end, a parameter twice, an unclosed brace)
// fails the start with an ErrRoutesAnswer naming the line, never a panic
// out of Build, which would take down serve, or a reload, with it.
func TestWAGIRoutesPatternNeverPanics(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, text string }{
		{"broken regexp", "/a/{x:[} alpha\n"},
		{"wildcard in the middle", "/a/*/b alpha\n"},
		{"parameter twice", "/{a}/{a} alpha\n"},
		{"unclosed brace", "/{a alpha\n"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			panicked, err := buildModulesToml(t, dir, routesGuest(t, dir, fmt.Sprintf("p%d", i), c.text))
			if panicked != nil {
				t.Fatalf("got a panic out of Build: %v; want an ErrRoutesAnswer error for %q", panicked, c.text)
			}
			if !errors.Is(err, ErrRoutesAnswer) || !strings.Contains(err.Error(), "line 1") {
				t.Errorf("got error %v; want an ErrRoutesAnswer naming line 1", err)
			}
		})
	}
}
