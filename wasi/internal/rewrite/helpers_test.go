package rewrite

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

// repoDir is the repository's root folder.
var repoDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}()

// guestPath is a test guest of testdata/guests.
func guestPath(name string) string { return filepath.Join(repoDir, "testdata", "guests", name) }

// hostilePath is a module of wasi/testdata/hostile.
func hostilePath(name string) string {
	return filepath.Join(repoDir, "wasi", "testdata", "hostile", name)
}

// coalesceGap is the gap the engine joins data segments across (wasi's
// coalesceGap), so that the tests rewrite what the engine does.
const coalesceGap = 4096

// lyingDataCount is a 15-byte module whose data section declares
// 2^32-1 segments: it once killed the process.
var lyingDataCount = []byte("\x00asm\x01\x00\x00\x00\x0b\x05\xff\xff\xff\xff\x0f")

// trustedTestBuilds says whether the tests' builders build unsandboxed:
// where no sandbox is available, unless the run requires the toolchains.
func trustedTestBuilds() bool {
	return os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") == "" && !toolchain.DetectSandbox().Available()
}

// childEnv names the test a child process of the test binary runs.
const childEnv = "WASIGATE_TEST_CHILD"

// inChild reports whether this process is the child that runs t's body.
// In the parent it runs the test binary again for t alone, fails t if the
// child fails or is still running after limit (then it is killed), and
// returns false.
func inChild(t *testing.T, limit time.Duration) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		t.Errorf("the process hung for %v and was killed: a guest that never passes through Go stalls every goroutine\n%s", limit, lastLines(out, 20))
	case err != nil:
		t.Errorf("child: %v\n%s", err, lastLines(out, 40))
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Errorf("child did not run %s\n%s", t.Name(), lastLines(out, 20))
	}
	return false
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// rubyModulePath is the Ruby interpreter the samples install.
func rubyModulePath() string {
	return filepath.Join(repoDir, "samples", "ruby", "node_modules", "@ruby", "3.4-wasm-wasi", "dist", "ruby+stdlib.wasm")
}
