// The test of wasigate's import rules (README, Layout; issue 11): which
// rooms may depend on which. It lives with the command that wires the
// rooms together, so the repository's top level stays cmd, host, wasi,
// router, samples and testdata.
package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const mod = "github.com/wasigate/wasigate"

// rules: for each package, the packages none of its non-test dependencies
// may be (an entry ending in "/..." also forbids every package under it).
var rules = []struct {
	pkg    string
	forbid []string
}{
	{"host", []string{"github.com/tetratelabs/wazero/...", "github.com/go-chi/chi/v5/...", mod + "/router/...", mod + "/wasi/..."}},
	{"router", []string{"github.com/tetratelabs/wazero/...", mod + "/wasi/..."}},
	{"router/metrics", []string{"github.com/tetratelabs/wazero/...", mod + "/wasi/..."}},
	{"wasi", []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi/cgi"}},
	{"wasi/toolchain", []string{"github.com/tetratelabs/wazero/...", mod + "/host/...", mod + "/router/...", mod + "/wasi", mod + "/wasi/cgi"}},
	{"wasi/cgi", []string{mod + "/router/...", "github.com/go-chi/chi/v5/..."}},
	{"wasi/internal/rewrite", []string{"github.com/tetratelabs/wazero/...", mod + "/host/...", mod + "/router/...", mod + "/wasi", mod + "/wasi/cgi", mod + "/wasi/toolchain"}},
	{"wasi/internal/tune", []string{"github.com/tetratelabs/wazero/...", mod + "/host/...", mod + "/router/...", mod + "/wasi", mod + "/wasi/cgi", mod + "/wasi/toolchain"}},
	{"wasi/internal/guestfs", []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi", mod + "/wasi/cgi"}},
	{"wasi/internal/snap", []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi", mod + "/wasi/cgi", mod + "/wasi/toolchain"}},
	{"wasi/internal/outbound", []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi", mod + "/wasi/cgi"}},
}

// TestImportRules fails when a package depends on a room it must not
// (go list -deps: direct and indirect, test files left out).
func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+"/"+r.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v", r.pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range r.forbid {
					if dep == strings.TrimSuffix(f, "/...") || (strings.HasSuffix(f, "/...") && strings.HasPrefix(dep, strings.TrimSuffix(f, "..."))) {
						t.Errorf("%s depends on %s; the layout forbids %s", r.pkg, dep, f)
					}
				}
			}
		})
	}
}

// TestPackageDocs: every package of the server says in a doc.go what it
// owns and what it must not import.
func TestPackageDocs(t *testing.T) {
	for _, r := range rules {
		b, err := os.ReadFile(filepath.Join("..", "..", r.pkg, "doc.go"))
		if err != nil {
			t.Errorf("%s has no doc.go: %v", r.pkg, err)
			continue
		}
		if !strings.Contains(string(b), "import") {
			t.Errorf("%s/doc.go does not say what the package must not import", r.pkg)
		}
	}
}
