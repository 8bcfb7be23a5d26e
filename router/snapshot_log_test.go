package router

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestRouteSnapshotLog: the site's routes say whether each module's
// instances start from a snapshot, the route's snapshot = false turns it
// off, and LogSnapshots (serve's start, every reload) warns once for a
// refused one, naming the route. router/e2e/snapshot_test.go checks the
// snapshots themselves with real reactors.
func TestRouteSnapshotLog(t *testing.T) {
	dir := t.TempDir()
	writeFakeGuest(t, filepath.Join(dir, "on.wasm"), "snapshot on", writes("on\n"))
	writeFakeGuest(t, filepath.Join(dir, "refused.wasm"), `snapshot refused "no snapshot: _initialize failed"`, writes("refused\n"))
	const config = `
[[route]]
path = "/on"
module = "on.wasm"

[[route]]
path = "/off"
module = "on.wasm"
snapshot = false

[[route]]
path = "/refused"
module = "refused.wasm"

[[route]]
path = "/plain"
module = "hello.wasm"
`
	_, site := buildSite(t, dir, strings.Replace(config, `"hello.wasm"`, fmt.Sprintf("%q", guest("hello.wasm")), 1), &logBuffer{}, nil)
	defer site.Close(t.Context())
	want := map[string]string{
		"/on":      "snapshot: 64 KiB image mapped copy-on-write, init 1ms",
		"/off":     "snapshot turned off",
		"/refused": "no snapshot: _initialize failed",
		"/plain":   "",
	}
	for _, r := range site.Routes {
		if got := r.Snapshot.String(); got != want[r.Pattern] {
			t.Errorf("route %s: got snapshot %q; want %q", r.Pattern, got, want[r.Pattern])
		}
	}
	logs := &logBuffer{}
	LogSnapshots(zerolog.New(logs), site.Routes)
	var refused, taken []string
	for _, e := range parseEvents(t, logs) {
		switch e.str("message") {
		case "snapshot refused; the init runs in every request":
			refused = append(refused, e.str("route")+" "+e.str("level"))
		case "snapshot":
			taken = append(taken, e.str("route"))
		}
	}
	if strings.Join(refused, ",") != "/refused warn" || strings.Join(taken, ",") != "/on,/off" {
		t.Errorf("got refusals %v and snapshot events %v; want [/refused warn] and [/on /off]\n%s", refused, taken, logs)
	}
}

// TestInterpreterInitFails: an interpreter whose own init fails (a preload
// that cannot be imported) fails the start, naming the interpreter, its
// module and the preload list: every request would fail the same way.
func TestInterpreterInitFails(t *testing.T) {
	dir := t.TempDir()
	writeFakeGuest(t, filepath.Join(dir, "py.wasm"), `snapshot initerr "ModuleNotFoundError: No module named 'nothere'"`)
	writeFile(t, filepath.Join(dir, "scripts", "x.py"), "print(1)\n")
	err := buildError(t, dir, `
[[interpreter]]
ext = ".py"
module = "py.wasm"
preload = ["nothere"]

[[route]]
path = "/s/*"
scripts = "scripts"
`)
	for _, w := range []string{"interpreter .py", "module py.wasm", `preload ["nothere"]`, "No module named 'nothere'"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got error %v; want it to name %q", err, w)
		}
	}
}
