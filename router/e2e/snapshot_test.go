package e2e_test

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/router"
)

// TestRouteSnapshot: a reactor route is served from a snapshot of its init
// by default, and each request over HTTP is still fresh (counter 1, its own
// QUERY_STRING); snapshot = false turns it off; a refused snapshot says
// why; the site's routes say which
// (cmd/wasigate/DECISIONS.md#reactors-start-from-a-snapshot-of-their-init).
func TestRouteSnapshot(t *testing.T) {
	const config = `
[[route]]
path = "/on"
module = "reactor.wasm"
entrypoint = "serve"

[[route]]
path = "/off"
module = "reactor.wasm"
entrypoint = "serve"
snapshot = false

[[route]]
path = "/trap"
module = "reactor_trap.wasm"
entrypoint = "serve"

[[route]]
path = "/plain"
module = "hello.wasm"
`
	srv, site := serveSite(t, "", config, &logBuffer{}, nil)
	want := map[string]string{
		"/on":    "snapshot: 1",
		"/off":   "turned off",
		"/trap":  "no snapshot: _initialize failed",
		"/plain": "",
	}
	for _, r := range site.Routes {
		if w := want[r.Pattern]; !strings.HasPrefix(r.Snapshot.String(), w) || (w == "" && r.Snapshot.String() != "") {
			t.Errorf("route %s: snapshot %q; want it to start with %q", r.Pattern, r.Snapshot.String(), w)
		}
	}
	for _, path := range []string{"/on", "/off"} {
		prngs := map[string]bool{}
		for _, q := range []string{"a", "b"} {
			res, body := get(t, srv.URL+path+"?"+q)
			if res.StatusCode != 200 || !strings.HasPrefix(body, "counter=1\n") || !strings.Contains(body, "\nenv-QUERY_STRING="+q+"\n") {
				t.Errorf("GET %s?%s: %d %q; want 200, counter=1, env-QUERY_STRING=%s", path, q, res.StatusCode, body, q)
			}
			_, prng, _ := strings.Cut(body, "\nprng=")
			prng, _, _ = strings.Cut(prng, "\n")
			prngs[prng] = true
		}
		// The init's PRNG state is frozen into the snapshot, by design.
		if frozen := len(prngs) == 1; frozen != (path == "/on") {
			t.Errorf("%s: PRNG values %v frozen %v; want %v", path, prngs, frozen, path == "/on")
		}
	}
	logs := &logBuffer{}
	router.LogSnapshots(zerolog.New(logs), site.Routes)
	if n := strings.Count(logs.String(), `"message":"snapshot refused; the init runs in every request"`); n != 1 || !strings.Contains(logs.String(), `"route":"/trap"`) {
		t.Errorf("log %s: %d refusal events; want one, for /trap", logs, n)
	}
}
