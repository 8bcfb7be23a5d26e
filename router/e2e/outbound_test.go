package e2e_test

import (
	"encoding/json"
	"fmt"
	"github.com/wasigate/wasigate/router"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiUpstream is a loopback API for the guests: /echo answers the method
// and the X-Test header, /redirect sends to a host no route allows.
func apiUpstream(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo-Method", r.Method)
		fmt.Fprintf(w, "echo %s", r.Method)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// outboundEvents returns the "outbound request" log events.
func outboundEvents(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["message"] == "outbound request" {
			out = append(out, ev)
		}
	}
	return out
}

// TestOutboundRoutes: a route's allowed_hosts, its limits and its tenant's
// cap decide what the guest reaches; each outbound request is one log event
// naming route, request id, host, status and reason, and one metric
// (cmd/wasigate/DECISIONS.md#outbound-http-is-denied-by-default-and-checked-after-dns).
func TestOutboundRoutes(t *testing.T) {
	up := apiUpstream(t)
	config := fmt.Sprintf(`
[[route]]
path = "/ok"
module = "outbound.wasm"
allowed_hosts = [%[1]q]
env = { URL = "%[1]s/echo", GET_HEADER = "x-echo-method" }

[[route]]
path = "/none"
module = "outbound.wasm"
env = { URL = "%[1]s/echo" }

[[route]]
path = "/limit"
module = "outbound.wasm"
allowed_hosts = [%[1]q]
outbound_requests = 1
env = { URL = "%[1]s/echo", COUNT = "2" }

[[route]]
path = "/redirect"
module = "outbound.wasm"
allowed_hosts = [%[1]q]
env = { URL = "%[1]s/redirect" }

[[tenant]]
name = "acme"
hosts = ["acme.test"]
limits = { allowed_hosts = ["https://api.acme.test"] }
[[tenant.route]]
path = "/capped"
module = "outbound.wasm"
allowed_hosts = [%[1]q]
env = { URL = "%[1]s/echo" }
`, up)
	var mu sync.Mutex
	var metrics []string
	logs := &logBuffer{}
	srv, _ := serveSite(t, "", config, logs, func(o *router.Options) {
		o.Outbound = func(tenant, host, outcome string) {
			mu.Lock()
			metrics = append(metrics, tenant+" "+host+" "+outcome)
			mu.Unlock()
		}
	})
	tests := []struct {
		name, host, path string
		want             string   // a line of the body
		reasons          []string // per outbound request: "" is ok
		metric           string   // the last metric
	}{
		{"allowed by literal address", "", "/ok", "header x-echo-method: GET", []string{""}, " " + up + " ok"},
		{"no allowed_hosts", "", "/none", "req 1: rc=7 (destination not allowed) status=0", []string{"host"}, " other refused"},
		{"over outbound_requests", "", "/limit", "req 2: rc=13 (too many sessions) status=0", []string{"", "requests"}, " " + up + " refused"},
		{"redirect to metadata", "", "/redirect", "req 1: rc=7 (destination not allowed) status=0", []string{"redirect"}, " " + up + " refused"},
		{"tenant caps its route", "acme.test", "/capped", "req 1: rc=7 (destination not allowed) status=0", []string{"host"}, "acme other refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.String())
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), tt.want+"\n") {
				t.Fatalf("got %d %q; want 200 with the line %q", res.StatusCode, body, tt.want)
			}
			events := outboundEvents(t, logs.String()[before:])
			if len(events) != len(tt.reasons) {
				t.Fatalf("got %d outbound events; want %d\n%s", len(events), len(tt.reasons), logs.String()[before:])
			}
			for i, ev := range events {
				reason, _ := ev["reason"].(string)
				if reason != tt.reasons[i] || ev["route"] != tt.path || ev["request_id"] != res.Header.Get("X-Request-Id") || ev["method"] != "GET" || ev["host"] == "" {
					t.Errorf("event %d: got %v; want reason %q, route %s, request_id %s, method and host", i, ev, tt.reasons[i], tt.path, res.Header.Get("X-Request-Id"))
				}
			}
			mu.Lock()
			last := metrics[len(metrics)-1]
			mu.Unlock()
			if last != tt.metric {
				t.Errorf("got metric %q; want %q", last, tt.metric)
			}
		})
	}
}

// TestOutboundWAGI: a WAGI modules.toml whose module imports
// wasi_experimental_http starts, and its allowed_hosts is the policy.
func TestOutboundWAGI(t *testing.T) {
	up := apiUpstream(t)
	dir := t.TempDir()
	wasm, err := os.ReadFile(guest("outbound.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "http.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _ := testSite(t, dir, fmt.Sprintf(`
[[module]]
route = "/api"
module = %[2]q
allowed_hosts = [%[1]q]
environment = { URL = "%[1]s/echo" }

[[module]]
route = "/denied"
module = %[2]q
environment = { URL = "%[1]s/echo" }
`, up, filepath.Join(dir, "http.wasm")))
	for path, want := range map[string]string{
		"/api":    "body=echo GET",
		"/denied": "req 1: rc=7 (destination not allowed)",
	} {
		res, body := get(t, srv.URL+path)
		if res.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: got %d %q; want 200 with %q", path, res.StatusCode, body, want)
		}
	}
}

// TestOutboundSample: the outbound HTTP samples (Go through
// samples/outbound/quotes/wasihttp and http.Client, Rust through the raw functions)
// call the stub API, served by a wasigate site as in samples/wasigate.toml,
// and render it. Built in the sandbox like any script: the Go one is a
// folder that holds the package it imports, since a build sees nothing
// else of the module around it.
func TestOutboundSample(t *testing.T) {
	if _, err := router.LoadConfig(filepath.Join(repoRoot, "samples", "wasigate.toml")); err != nil {
		t.Fatalf("samples/wasigate.toml: %v", err)
	}
	api, _ := testSite(t, filepath.Join(repoRoot, "samples"), `
[[route]]
path = "/api/quotes"
module = "c/quotes_api.wasm"
`)
	srv, logs := scriptsSite(t, filepath.Join(repoRoot, "samples"), fmt.Sprintf(`
[[route]]
path = "/outbound/*"
scripts = "outbound"
allowed_hosts = [%q]
env = { API_URL = "%s/api/quotes" }
`, api.URL, api.URL))
	for _, script := range []string{"quotes", "quotes.rs"} {
		t.Run(script, func(t *testing.T) {
			res, body := get(t, srv.URL+"/outbound/"+script)
			// A cold build of net/http for wasip1 outlasts a request.
			for deadline := time.Now().Add(3 * time.Minute); res.StatusCode == 503 && time.Now().Before(deadline); {
				res, body = get(t, srv.URL+"/outbound/"+script)
			}
			skipMissing(t, res.StatusCode, body)
			if res.StatusCode != 200 || !strings.Contains(body, "Kent Beck") {
				t.Fatalf("got %d %q; want 200 with the API's quotes\nlog: %s", res.StatusCode, body, logs)
			}
			if n := len(outboundEvents(t, logs.String())); n == 0 {
				t.Errorf("got no outbound event; want one per call")
			}
		})
	}
}

// TestOutboundAllowAllAddresses: under insecure:allow-all a guest reaches
// neither this machine's own addresses (a service bound to 0.0.0.0 that
// trusts local callers), nor loopback, nor the special-purpose ranges such
// as TEST-NET-2 and TEST-NET-3: the guest gets "destination not allowed"
// and the log one refused event with reason address. An entry naming the
// address and port reaches it.
func TestOutboundAllowAllAddresses(t *testing.T) {
	var hits sync.Map
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.Host, true)
		fmt.Fprint(w, "secret=hunter2")
	}), ReadHeaderTimeout: 5 * time.Second}
	go svc.Serve(ln)
	t.Cleanup(func() { svc.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	targets := []string{"127.0.0.1", "198.51.100.7", "203.0.113.9"}
	own := ownIPv4(t)
	if own == "" {
		t.Log("THIS MACHINE HAS NO NON-LOOPBACK IPv4 ADDRESS: its own address is not tried here (wasi's TestOutboundOwnAddressNetns makes one)")
	} else {
		targets = append(targets, own)
	}
	var config strings.Builder
	for i, a := range targets {
		fmt.Fprintf(&config, "[[route]]\npath = \"/t%d\"\nmodule = \"outbound.wasm\"\nallowed_hosts = [\"insecure:allow-all\"]\noutbound_timeout = \"2s\"\nenv = { URL = \"http://%s:%d/\" }\n\n", i, a, port)
	}
	named := targets[0]
	if own != "" {
		named = own
	}
	fmt.Fprintf(&config, "[[route]]\npath = \"/named\"\nmodule = \"outbound.wasm\"\nallowed_hosts = [\"insecure:allow-all\", \"http://%[1]s:%[2]d\"]\nenv = { URL = \"http://%[1]s:%[2]d/\" }\n", named, port)
	logs := &logBuffer{}
	srv, _ := serveSite(t, "", config.String(), logs, nil)
	check := func(path, host, want, outcome, reason string) {
		t.Helper()
		before := len(logs.String())
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s (%s): got %d %q; want 200 with %q", path, host, res.StatusCode, body, want)
		}
		events := outboundEvents(t, logs.String()[before:])
		if len(events) != 1 {
			t.Fatalf("%s (%s): got %d outbound events; want 1\n%s", path, host, len(events), logs.String()[before:])
		}
		ev := events[0]
		if ev["route"] != path || ev["request_id"] != res.Header.Get("X-Request-Id") || ev["host"] != fmt.Sprintf("http://%s:%d", host, port) ||
			ev["outcome"] != outcome || (reason != "" && ev["reason"] != reason) {
			t.Errorf("%s (%s): got event %v; want route, request id, host, outcome %s, reason %q", path, host, ev, outcome, reason)
		}
	}
	for i, a := range targets {
		check(fmt.Sprintf("/t%d", i), a, "req 1: rc=7 (destination not allowed) status=0\n", "refused", "address")
	}
	hits.Range(func(k, _ any) bool {
		t.Errorf("the service got a request for %v; want none", k)
		return true
	})
	check("/named", named, "body=secret=hunter2\n", "ok", "")
}

// ownIPv4 is one of this machine's non-loopback IPv4 addresses, or "".
func ownIPv4(t *testing.T) string {
	t.Helper()
	ias, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ia := range ias {
		if n, ok := ia.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
