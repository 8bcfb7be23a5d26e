package toolchain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoInitEnv: reads of the environment that run in package main's init
// are found (they would be frozen empty into a snapshot); reads that run
// later, in main or in a handler, are not.
func TestGoInitEnv(t *testing.T) {
	for _, tt := range []struct {
		name, src, want string
	}{
		{"variable", `var base = os.Getenv("SCRIPT_NAME")`, "p.go:4: os.Getenv (a package-level variable)"},
		{"aliased import", `import o "os"
var _, set = o.LookupEnv("X")`, "p.go:5: o.LookupEnv (a package-level variable)"},
		{"init through helpers", `func init() { setup() }
func setup() { load() }
func load() { _ = os.Environ() }`, "p.go:6: os.Environ (called by func init)"},
		{"called literal", `var x = func() string { return os.ExpandEnv("$X") }()`, "p.go:4: os.ExpandEnv (a package-level variable)"},
		{"in main", `func main() { _ = os.Getenv("X") }`, ""},
		{"handler kept for later", `var h = func() string { return os.Getenv("X") }
func init() { register(func() { _ = os.Getenv("Y") }) }
func register(f func()) {}`, ""},
		{"no os import", `var x = len("os.Getenv")`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := "package main\n\nimport \"os\"\n" + tt.src + "\nvar _ = os.Args\n"
			f := filepath.Join(dir, "p.go")
			if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := goInitEnv([]string{f})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" && got != "" || tt.want != "" && !strings.HasSuffix(got, ": "+tt.want) {
				t.Errorf("goInitEnv = %q; want it to end with %q", got, tt.want)
			}
		})
	}
}

// FuzzGoInitEnv: any source, valid Go or not, gives an answer without
// panicking.
func FuzzGoInitEnv(f *testing.F) {
	f.Add([]byte("package main\nimport \"os\"\nvar b = os.Getenv(\"X\")\nfunc init() { a() }\nfunc a() { a(); _ = os.Environ() }\n"))
	f.Add([]byte("package main\nvar x = func() int { return (func() int { return 1 })() }()\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		p := filepath.Join(dir, "p.go")
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := goInitEnv([]string{p}); err != nil {
			t.Fatal(err)
		}
	})
}
