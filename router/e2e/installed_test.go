package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// pythonInstall and rubyInstall are the commands that install the
// interpreters the Python and Ruby tests need.
const (
	pythonInstall = "bash samples/python/install.sh"
	rubyInstall   = "npm install --prefix samples/ruby"
)

// skipNotice prints, once per interpreter and test binary, that its tests
// were skipped: t.Skip alone shows only under -v, and a run that silently
// skipped every Python test looked like one that passed them.
var skipNotice sync.Map

// needInstalled skips t, loudly, when the interpreter at path is missing,
// or fails it under WASIGATE_REQUIRE_TOOLCHAINS=1 (CI).
func needInstalled(t testing.TB, what, path, install string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	msg := fmt.Sprintf("%s not installed (%s missing): install it with `%s`", what, filepath.Base(path), install)
	if requireToolchains() {
		t.Fatalf("%s; WASIGATE_REQUIRE_TOOLCHAINS is set", msg)
	}
	if _, seen := skipNotice.LoadOrStore(what, true); !seen {
		fmt.Fprintf(os.Stderr, "SKIPPING the %s tests: %s (WASIGATE_REQUIRE_TOOLCHAINS=1 makes this a failure)\n", what, msg)
	}
	t.Skipf("SKIP: %s", msg)
}

// needPython and needRuby skip or fail t when CPython or ruby.wasm is
// missing (needInstalled).
func needPython(t testing.TB) {
	t.Helper()
	needInstalled(t, "Python", filepath.Join(pythonDist, "python.wasm"), pythonInstall)
}

func needRuby(t testing.TB) {
	t.Helper()
	needInstalled(t, "Ruby", rubyWasm, rubyInstall)
}
