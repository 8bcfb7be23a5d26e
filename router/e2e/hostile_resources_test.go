package e2e_test

import (
	"context"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// Hostile cases that the wasi package owns, end to end over HTTP: resources
// released on every ending, the files cap, and module bytes that lie about
// their size.

// processFDs counts this process's open file descriptors.
func processFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

const resourcesConfig = `
[[route]]
path = "/hold"
module = "%[1]s/holdfiles.wasm"
timeout = "300ms"
volumes = { "/data" = { path = "data" } }
env = { FILES = "100", MIB = "16" }

[[route]]
path = "/files"
module = "%[1]s/holdfiles.wasm"
max_open_files = 50
volumes = { "/data" = { path = "data" } }
env = { FILES = "1000", MIB = "1" }
`

// TestHostileResources: a guest holding 100 files and 16 MiB ends in each
// way; afterwards the process holds no more descriptors and no pooled
// memory than before (once +100 fds and 16 MiB per sleeping guest stopped
// at its deadline:
// cmd/wasigate/DECISIONS.md#every-ending-releases-memory-and-files). Three
// rounds, so that a leak shows as growth.
func TestHostileResources(t *testing.T) {
	dirs := hostileDirs(t)
	srv, logs := serveConfigLogs(t, dirs, fmt.Sprintf(resourcesConfig, filepath.Join(repoRoot, "testdata", "guests")))
	eng, _ := sharedEngine(t)
	fetch(t, "GET", srv.URL+"/hold?count", nil, nil) // the keep-alive connection, before counting
	fdsBefore := processFDs(t)
	memBefore, _ := eng.MemoryInUse()
	cases := []struct {
		query, reason string
		status        int
	}{
		{"sleep", "timeout", 504},
		{"loop", "timeout", 504},
		{"trap", "crash", 502},
		{"exit3", "exit", 502},
		{"count", "", 200},
	}
	for round := range 3 {
		for _, tc := range cases {
			o := fetch(t, "GET", srv.URL+"/hold?"+tc.query, nil, nil)
			if o.status != tc.status {
				t.Errorf("round %d ?%s: status %d; want %d", round, tc.query, o.status, tc.status)
			}
			checkOneEvent(t, logs, o.id, "/hold", "holdfiles.wasm", tc.reason)
		}
	}
	// The access event is written when the handler returns; the run ended
	// before it.
	fdsAfter := processFDs(t)
	memAfter, bytesAfter := eng.MemoryInUse()
	t.Logf("15 requests: fds %d -> %d, pooled memories in use %d -> %d (%d bytes)", fdsBefore, fdsAfter, memBefore, memAfter, bytesAfter)
	if fdsAfter > fdsBefore+4 {
		t.Errorf("fds after: got %d; want at most %d (before: %d)", fdsAfter, fdsBefore+4, fdsBefore)
	}
	if memAfter > memBefore {
		t.Errorf("pooled memories in use after: got %d; want %d", memAfter, memBefore)
	}
}

// TestHostileOpenFiles: a guest opening 1,000 files on a route capped at
// 50 gets an error past the cap, goes on, and the route answers.
func TestHostileOpenFiles(t *testing.T) {
	if router.DefaultLimits.MaxOpenFiles != seam.DefaultMaxOpenFiles {
		t.Errorf("DefaultLimits.MaxOpenFiles %d; want seam.DefaultMaxOpenFiles %d", router.DefaultLimits.MaxOpenFiles, seam.DefaultMaxOpenFiles)
	}
	dirs := hostileDirs(t)
	srv, logs := serveConfigLogs(t, dirs, fmt.Sprintf(resourcesConfig, filepath.Join(repoRoot, "testdata", "guests")))
	for range 2 {
		o := fetch(t, "GET", srv.URL+"/files?count", nil, nil)
		// 49 files and the volume's folder; wasi-libc's EAGAIN is 6.
		if want := "opened 49 errno 6\n"; o.status != 200 || o.body != want {
			t.Errorf("got %d %q; want 200 %q", o.status, o.body, want)
		}
		checkOneEvent(t, logs, o.id, "/files", "holdfiles.wasm", "")
	}
}

// lyingModule is a 15-byte module whose data section declares 0xFFFFFFFF
// segments: before its counts were checked, compiling it killed the process
// (cmd/wasigate/DECISIONS.md#module-bytes-are-checked-before-anything-decodes-them).
var lyingModule = []byte("\x00asm\x01\x00\x00\x00\x0b\x05\xff\xff\xff\xff\x0f")

// TestHostileLyingModule: the module dropped in a scripts folder answers
// 500 with one log event, and the server goes on; configured as a route's
// module it fails the build naming the file and the route.
func TestHostileLyingModule(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scripts", "lie.wasm"), string(lyingModule))
	writeFile(t, filepath.Join(dir, "lie.wasm"), string(lyingModule))
	srv, logs := serveConfigLogs(t, dir, fmt.Sprintf(`
[[route]]
path = "/s/*"
scripts = "scripts"

[[route]]
path = "/hello"
module = %q
`, filepath.Join(repoRoot, "testdata", "guests", "hello.wasm")))
	o := fetch(t, "GET", srv.URL+"/s/lie.wasm", nil, nil)
	if o.status != 500 {
		t.Errorf("status %d; want 500", o.status)
	}
	checkOneEvent(t, logs, o.id, "/s/*", "lie.wasm", "build")
	if evs := requestEvents(t, logs, o.id); !strings.Contains(fmt.Sprint(evs), "declares more than it holds") {
		t.Errorf("events %v do not say what is wrong with the module", evs)
	}
	if o := fetch(t, "GET", srv.URL+"/hello", nil, nil); o.status != 200 {
		t.Errorf("/hello after: status %d; want 200", o.status)
	}

	cfg, err := router.ParseConfig(strings.NewReader("[[route]]\npath = \"/lie\"\nmodule = \"lie.wasm\"\n"), filepath.Join(dir, "test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	eng, cache := sharedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = router.Build(ctx, cfg, router.Options{Loader: &cgi.Loader{Engine: eng, Builder: &toolchain.Builder{Trusted: trustedTestBuilds(), Dir: cache}}, Log: zerolog.Nop()})
	for _, want := range []string{filepath.Join(dir, "test.toml"), `route #1 "/lie"`, "lie.wasm", "declares more than it holds"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Build: got %v; want an error containing %q", err, want)
		}
	}
}
