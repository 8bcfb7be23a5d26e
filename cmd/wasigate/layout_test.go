// The test of wasigate's import rules (README.md#layout,
// cmd/wasigate/DECISIONS.md#router-knows-nothing-of-wazero): which
// rooms may depend on which. It lives with the command that wires the
// rooms together, so the repository's top level stays cmd, host, wasi,
// router, samples and testdata.
package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/wasigate/wasigate"

// seam is the leaf package of the types that cross between router and
// the module side: every other room may import it, and it imports only
// the standard library.
const seam = mod + "/host/seam"

// rules: for each package, the packages none of its non-test dependencies
// may be (an entry ending in "/..." also forbids every package under it),
// but for those in allow; stdlib: it may depend on the standard library
// only.
var rules = []struct {
	pkg    string
	forbid []string
	allow  []string
	stdlib bool
}{
	{pkg: "host", forbid: []string{"github.com/tetratelabs/wazero/...", "github.com/go-chi/chi/v5/...", mod + "/router/...", mod + "/wasi/..."}},
	{pkg: "host/seam", stdlib: true},
	{pkg: "router", forbid: []string{"github.com/tetratelabs/wazero/...", mod + "/wasi/..."}},
	{pkg: "router/metrics", forbid: []string{"github.com/tetratelabs/wazero/...", mod + "/wasi/..."}},
	// The module side may import the seam, and no other part of host.
	{pkg: "wasi", forbid: []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi/cgi"}, allow: []string{seam}},
	{pkg: "wasi/toolchain", forbid: []string{"github.com/tetratelabs/wazero/...", mod + "/host/...", mod + "/router/...", mod + "/wasi", mod + "/wasi/cgi"}, allow: []string{seam}},
	{pkg: "wasi/cgi", forbid: []string{mod + "/router/...", "github.com/go-chi/chi/v5/..."}},
	{pkg: "wasi/internal/rewrite", forbid: []string{"github.com/tetratelabs/wazero/...", mod + "/host/...", mod + "/router/...", mod + "/wasi", mod + "/wasi/cgi", mod + "/wasi/toolchain"}},
	{pkg: "wasi/tune", forbid: []string{"github.com/tetratelabs/wazero/...", mod + "/host/...", mod + "/router/...", mod + "/wasi", mod + "/wasi/cgi", mod + "/wasi/toolchain"}},
	{pkg: "wasi/internal/guestfs", forbid: []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi", mod + "/wasi/cgi"}, allow: []string{seam}},
	{pkg: "wasi/internal/snap", forbid: []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi", mod + "/wasi/cgi", mod + "/wasi/toolchain"}, allow: []string{seam}},
	{pkg: "wasi/internal/outbound", forbid: []string{mod + "/host/...", mod + "/router/...", "github.com/go-chi/chi/v5/...", mod + "/wasi", mod + "/wasi/cgi"}, allow: []string{seam}},
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
				if r.stdlib && dep != mod+"/"+r.pkg && strings.Contains(strings.Split(dep, "/")[0], ".") {
					t.Errorf("%s depends on %s; the layout allows it the standard library only", r.pkg, dep)
				}
				if slices.Contains(r.allow, dep) {
					continue
				}
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
