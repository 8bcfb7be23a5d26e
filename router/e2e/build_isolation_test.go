package e2e_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildSeesOnlyItsScript: two tenants' folders inside one Go module
// (as the repository's own samples are laid out). Tenant a's scripts ask
// their compilers for tenant b's data/secret.env, by a path relative to
// the script and by its absolute path: from a Go folder's assembly
// (.s #include, whose error names the first token of the file), from C
// (#include), from Rust (include_str!) and from a single Go file
// (//go:embed of a file beside it). Each build fails, and neither the
// error page (show_build_errors on) nor the log holds the secret.
func TestBuildSeesOnlyItsScript(t *testing.T) {
	needSandbox(t)
	const secret = "hunter2_b7c1e4"
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/site\n\ngo 1.22\n")
	secretPath := filepath.Join(dir, "b", "data", "secret.env")
	writeFile(t, secretPath, secret+"\n")
	writeFile(t, filepath.Join(dir, "b", "scripts", "hello.wat"), "(module (func (export \"_start\")))\n")
	scripts := filepath.Join(dir, "a", "scripts")
	goAsm := func(include string) string {
		return "// leak\n#include \"" + include + "\"\n"
	}
	goMain := "package main\n\nfunc leak()\n\nfunc main() { leak() }\n"
	cases := []struct{ name, script string }{
		{"go asm relative", "asmrel"},
		{"go asm absolute", "asmabs"},
		{"c relative", "rel.c"},
		{"c absolute", "abs.c"},
		{"rust relative", "rel.rs"},
		{"go embed sibling", "embed.go"},
	}
	writeFile(t, filepath.Join(scripts, "asmrel", "main.go"), goMain)
	writeFile(t, filepath.Join(scripts, "asmrel", "leak_wasm.s"), goAsm("../../../b/data/secret.env"))
	writeFile(t, filepath.Join(scripts, "asmabs", "main.go"), goMain)
	writeFile(t, filepath.Join(scripts, "asmabs", "leak_wasm.s"), goAsm(secretPath))
	writeFile(t, filepath.Join(scripts, "rel.c"), "#include \"../../b/data/secret.env\"\nint main(void) { return 0; }\n")
	writeFile(t, filepath.Join(scripts, "abs.c"), fmt.Sprintf("#include %q\nint main(void) { return 0; }\n", secretPath))
	writeFile(t, filepath.Join(scripts, "rel.rs"), "fn main() { print!(\"Content-Type: text/plain\\n\\n{}\", include_str!(\"../../b/data/secret.env\")); }\n")
	// A single Go file sees itself, not the folder it sits in.
	writeFile(t, filepath.Join(scripts, "sibling.txt"), secret+"\n")
	writeFile(t, filepath.Join(scripts, "embed.go"), "package main\n\nimport (\n\t_ \"embed\"\n\t\"fmt\"\n)\n\n//go:embed sibling.txt\nvar s string\n\nfunc main() { fmt.Print(\"Content-Type: text/plain\\n\\n\" + s) }\n")

	srv, logs := sandboxSite(t, dir, `
[[tenant]]
name = "a"
hosts = ["a.test"]

[[tenant.route]]
path = "/s/*"
scripts = "a/scripts"
timeout = "60s"
show_build_errors = true

[[tenant]]
name = "b"
hosts = ["b.test"]

[[tenant.route]]
path = "/s/*"
scripts = "b/scripts"
`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := getHost(t, srv, "a.test", "/s/"+c.script)
			for deadline := time.Now().Add(2 * time.Minute); res.StatusCode == 503 && time.Now().Before(deadline); {
				res, body = getHost(t, srv, "a.test", "/s/"+c.script)
			}
			skipMissing(t, res.StatusCode, body)
			if res.StatusCode != 500 {
				t.Errorf("status %d; want 500 (a build error); body %q", res.StatusCode, body)
			}
			if strings.Contains(body, secret) {
				t.Errorf("body leaks tenant b's secret: %q", body)
			}
		})
	}
	if l := logs.String(); strings.Contains(l, secret) {
		t.Errorf("log leaks tenant b's secret: %s", l)
	}
}
