package e2e_test

import (
	"crypto/tls"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hopsConfig: internal redirects
// (cmd/wasigate/DECISIONS.md#one-request-one-slot-one-deadline) take one
// slot and one deadline per request, whatever the hops. %[1]s is
// testdata/guests.
const hopsConfig = `
[[route]]
path = "/self"
module = "%[1]s/hop.wasm"
concurrency = 1
queue_timeout = "200ms"

[[route]]
path = "/chain"
module = "%[1]s/hop.wasm"
timeout = "2s"
env = { SLEEP_MS = "500" }

[[route]]
path = "/a"
module = "%[1]s/hop.wasm"
concurrency = 1
queue_timeout = "100ms"

[[route]]
path = "/b"
module = "%[1]s/sleep.wasm"
env = { SLEEP_MS = "1500" }
concurrency = 1
queue_timeout = "5s"

[[tenant]]
name = "t"
hosts = ["t.example"]
[tenant.limits]
concurrency = 2
queue_timeout = "200ms"
[[tenant.route]]
path = "/hop"
module = "%[1]s/hop.wasm"
`

// TestRedirectHops: a self-redirect on a route of concurrency 1
// deadlocked into a 503; a 10-hop chain ran 16.5 s on a 2 s route; a
// 3-hop chain used all of a tenant's slots; a hop queued for another
// route while holding its first slot.
func TestRedirectHops(t *testing.T) {
	srv, logs := serveConfigLogs(t, "", fmt.Sprintf(hopsConfig, guest("")))
	c := freshClient()
	base := measure(t)
	get := func(host, target string) outcome {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+target, nil)
		req.Host = host
		start := time.Now()
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return outcome{status: res.StatusCode, body: string(b), elapsed: time.Since(start), id: res.Header.Get("X-Request-Id")}
	}

	t.Run("self-redirect on concurrency 1", func(t *testing.T) {
		o := get("x", "/self?n=3")
		if o.status != 200 || o.body != "hop done\n" {
			t.Errorf("status %d body %q; want 200 hop done: the hops reuse the one slot", o.status, o.body)
		}
		checkOneEvent(t, logs, o.id, "/self", "hop.wasm", "")
	})
	t.Run("tenant of concurrency 2, 3 hops", func(t *testing.T) {
		o := get("t.example", "/hop?n=3")
		if o.status != 200 || o.body != "hop done\n" {
			t.Errorf("status %d body %q; want 200 hop done: one tenant slot for the request", o.status, o.body)
		}
	})
	t.Run("10-hop chain, one deadline", func(t *testing.T) {
		o := get("x", "/chain?n=9")
		if o.status != 504 {
			t.Errorf("status %d; want 504: 10 hops of 0.5 s do not fit the first run's 2 s", o.status)
		}
		if o.elapsed > 3500*time.Millisecond {
			t.Errorf("answered after %v; want < timeout 2s + 1.5s", o.elapsed)
		}
		checkOneEvent(t, logs, o.id, "/chain", "hop.wasm", "timeout")
	})
	t.Run("hop to a busy route frees the first slot", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]outcome, 2)
		wg.Add(2)
		go func() { defer wg.Done(); results[0] = get("x", "/b") }() // holds /b 1.5 s
		time.Sleep(300 * time.Millisecond)
		go func() { defer wg.Done(); results[1] = get("x", "/a?to=/b") }() // queues for /b
		time.Sleep(300 * time.Millisecond)
		o := get("x", "/a")
		if o.status != 200 || o.body != "hop done\n" {
			t.Errorf("/a while another /a request waits for /b: status %d body %q; want 200: that request gave its /a slot back", o.status, o.body)
		}
		wg.Wait()
		for i, r := range results {
			if r.status != 200 || r.body != "slept 1500 ms\n" {
				t.Errorf("request %d: status %d body %q; want 200 slept 1500 ms", i, r.status, r.body)
			}
		}
	})
	c.CloseIdleConnections()
	checkResources(t, base)
}

// TestHTTP2StalledStreams: over HTTP/2 one TCP connection held all of a
// route's slots with streams it never read. Each stalled run must end at
// the route's timeout, or at write_timeout, and free its slot; the
// connection then serves again.
func TestHTTP2StalledStreams(t *testing.T) {
	tests := []struct {
		name, writeTimeout, timeout, reason string
		bound                               time.Duration
	}{
		{"route timeout", "60s", "1500ms", "timeout", 3500 * time.Millisecond},
		{"write_timeout", "500ms", "30s", "client", 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stalledStreams(t, tt.writeTimeout, tt.timeout, tt.reason, tt.bound)
		})
	}
}

// stalledStreams opens 4 streams of /big (concurrency 4) on one HTTP/2
// connection and reads none: the route's timeout or write_timeout must
// end each run (one event each, with reason) and free its slot within
// bound, the connection serving a fifth stream then.
func stalledStreams(t *testing.T, writeTimeout, timeout, reason string, bound time.Duration) {
	config := fmt.Sprintf(slowConfig, guest(""), "60s", writeTimeout, timeout)
	config = strings.Replace(config, "concurrency = 1", "concurrency = 4", 1) // /big
	logs := &logBuffer{}
	cfg, site := buildSite(t, "", config, logs, nil)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = router.NewServer(cfg.Server, site.Handler)
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	base := measure(t)

	start := time.Now()
	var stalled []*http.Response
	for range 4 {
		res, err := c.Get(srv.URL + "/big") // 64 MiB, read never
		if err != nil {
			t.Fatal(err)
		}
		if res.ProtoMajor != 2 {
			t.Fatalf("protocol %s; want HTTP/2", res.Proto)
		}
		stalled = append(stalled, res)
		defer res.Body.Close() // also when the test fails
	}
	status, at := waitStatus(t, c, srv.URL+"/big?10", 200, start.Add(8*time.Second))
	if status != 200 {
		t.Fatalf("fifth stream: status %d; want 200 once the stalled runs have been stopped", status)
	}
	if d := at.Sub(start); d > bound {
		t.Errorf("slots free again after %v; want < %v", d, bound)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections; want all streams on 1", n)
	}
	// The other stalled streams end at their own deadline, moments later:
	// closing their bodies first would be a client leaving.
	var stopped int
	for wait := time.Now().Add(10 * time.Second); stopped < 4 && time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		stopped = 0
		for _, e := range eventsOfRoute(t, logs, "/big") {
			if e.str("reason") == reason {
				stopped++
			}
		}
	}
	for _, res := range stalled {
		res.Body.Close()
	}
	c.CloseIdleConnections()
	if stopped != 4 {
		t.Errorf("%d events with reason %s; want 4, one per stalled stream: %v", stopped, reason, eventsOfRoute(t, logs, "/big"))
	}
	checkResources(t, base)
}
