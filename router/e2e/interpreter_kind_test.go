package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestInterpreterHalfDriver: an interpreter module that exports
// wasigate_run but lacks the rest of the driver ABI fails the start with
// an error that names what is missing, never one that says wasigate_run
// is not there.
func TestInterpreterHalfDriver(t *testing.T) {
	tests := []struct {
		name, exports string
		missing       []string
	}{
		{"no wasigate_init", `(func (export "_initialize")) (func (export "wasigate_run"))`, []string{"wasigate_init"}},
		{"no _initialize", `(func (export "wasigate_init") (result i32) i32.const 0) (func (export "wasigate_run"))`, []string{"_initialize"}},
		{"run alone", `(func (export "wasigate_run"))`, []string{"_initialize", "wasigate_init"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "interp.wat"), "(module (memory (export \"memory\") 1) "+tt.exports+")\n")
			writeFile(t, filepath.Join(dir, "scripts", "x.half"), "anything\n")
			err := buildError(t, dir, `
[[interpreter]]
ext = ".half"
module = "interp.wat"

[[route]]
path = "/s/*"
scripts = "scripts"
`)
			if err == nil {
				t.Fatal("it started; want an error naming what the driver lacks")
			}
			msg := err.Error()
			if strings.Contains(msg, "neither") {
				t.Errorf("error %q says the module exports none of the entry points; it exports wasigate_run", msg)
			}
			for _, w := range append([]string{"test.toml", `interpreter #1 ".half"`, "interp.wat"}, tt.missing...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %q", msg, w)
				}
			}
		})
	}
}
