package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// upstream is the test's API server on loopback: /echo answers what it
// got, /big streams 1 MiB chunks for ever, /slow waits for the client to
// go away, /slowbody after its first bytes, /redirect sends the client to a host no policy allows.
func upstream(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo-Method", r.Method)
		w.Header().Add("X-Multi", "one")
		w.Header().Add("X-Multi", "two")
		fmt.Fprintf(w, "%s %s x-test=%s body=%s", r.Method, r.URL.Path, r.Header.Get("X-Test"), body)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/slowbody", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://metadata.example/latest/meta-data", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, srv.URL // http://127.0.0.1:PORT
}

// guest is outbound.wasm compiled in a runtime of its own that offers
// WASI and this package's host module, as the engine's runtimes do.
type guest struct {
	rt  wazero.Runtime
	mod wazero.CompiledModule
}

func outboundProgram(t *testing.T) *guest {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	t.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	if err := Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	wasm, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "guests", "outbound.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return &guest{rt: rt, mod: mod}
}

// withDefaults fills c's zero limits as the wasi package does with its
// defaults (16 requests, 10 s, 10 MiB), which these tests rely on.
func withDefaults(c Config) Config {
	if c.MaxRequests <= 0 {
		c.MaxRequests = 16
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 10 << 20
	}
	return c
}

// newPolicy is New with the defaults applied.
func newPolicy(c Config) (*Policy, error) { return New(withDefaults(c)) }

// runOutbound runs outbound.wasm with env under policy (nil: none) and
// returns its output, the events it caused and the run's error.
func runOutbound(t *testing.T, g *guest, pol *Config, timeout time.Duration, env ...string) (string, []Event, error) {
	t.Helper()
	var p *Policy
	var err error
	if pol != nil {
		p, err = newPolicy(*pol)
	} else {
		p, err = newPolicy(Config{})
	}
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = WithObserver(ctx, func(ev Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	ctx, finish := With(ctx, p)
	cfg := wazero.NewModuleConfig().WithName("").WithStdout(&stdout).WithStderr(io.Discard)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		cfg = cfg.WithEnv(k, v)
	}
	mod, err := g.rt.InstantiateModule(ctx, g.mod, cfg)
	if mod != nil {
		mod.Close(ctx)
	}
	finish() // after the instance is closed, as the engine does: its events are in
	var ee *sys.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 0 {
		err = nil
	}
	return stdout.String(), events, err
}

// TestOutbound drives the guest's requests through the host module over
// real HTTP: what the guest reads back, and exactly one event per request.
func TestOutbound(t *testing.T) {
	p := outboundProgram(t)
	_, base := upstream(t)
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	literal := &Config{AllowedHosts: []string{base}}
	tests := []struct {
		name    string
		pol     *Config
		env     []string
		want    []string // lines the output must hold
		reasons []string // one event per request: "" for ok, else the reason
	}{
		{"get with a header", literal,
			[]string{"URL=" + base + "/echo", "HEADERS=X-Test: yes\n", "GET_HEADER=x-echo-method"},
			[]string{"req 1: rc=0 (success) status=200", "header x-echo-method: GET", "h x-multi:one", "h x-multi:two", "body=GET /echo x-test=yes body=", "close rc=0"},
			[]string{""}},
		{"post with a body", literal,
			[]string{"URL=" + base + "/echo", "METHOD=POST", "HEADERS=Content-Type:text/plain\nX-Test:2\n", "BODY=hello upstream"},
			[]string{"req 1: rc=0 (success) status=200", "body=POST /echo x-test=2 body=hello upstream"},
			[]string{""}},
		{"no policy: nothing allowed", nil,
			[]string{"URL=" + base + "/echo"},
			[]string{"req 1: rc=7 (destination not allowed) status=0"},
			[]string{"host"}},
		{"another port of an allowed address", &Config{AllowedHosts: []string{"http://127.0.0.1:1"}},
			[]string{"URL=" + base + "/echo"},
			[]string{"req 1: rc=7 (destination not allowed)"},
			[]string{"host"}},
		{"a public name that resolves to loopback", &Config{
			AllowedHosts: []string{"http://api.example:" + port},
			LookupIP: func(context.Context, string, string) ([]net.IP, error) {
				return []net.IP{net.ParseIP("127.0.0.1")}, nil
			}},
			[]string{"URL=http://api.example:" + port + "/echo"},
			[]string{"req 1: rc=7 (destination not allowed)"},
			[]string{"address"}},
		{"ipv4-mapped loopback by name", &Config{
			AllowedHosts: []string{"http://api.example:" + port},
			LookupIP: func(context.Context, string, string) ([]net.IP, error) {
				return []net.IP{net.ParseIP("::ffff:127.0.0.1")}, nil
			}},
			[]string{"URL=http://api.example:" + port + "/echo"},
			[]string{"req 1: rc=7 (destination not allowed)"},
			[]string{"address"}},
		{"redirect to a host not allowed", literal,
			[]string{"URL=" + base + "/redirect"},
			[]string{"req 1: rc=7 (destination not allowed)"},
			[]string{"redirect"}},
		{"more requests than the run may make", &Config{AllowedHosts: []string{base}, MaxRequests: 2},
			[]string{"URL=" + base + "/echo", "COUNT=3"},
			[]string{"req 2: rc=0 (success) status=200", "req 3: rc=13 (too many sessions) status=0"},
			[]string{"", "", "requests"}},
		{"a body over the cap", &Config{AllowedHosts: []string{base}, MaxBody: 3 << 20},
			[]string{"URL=" + base + "/big"},
			[]string{"req 1: rc=0 (success) status=200", "body rc=12 bytes=3145728", "close rc=0"},
			[]string{"max_body"}},
		{"tenant's concurrency used up", &Config{AllowedHosts: []string{base}, Slots: make(chan struct{}, 1), Timeout: 200 * time.Millisecond},
			[]string{"URL=" + base + "/echo", "COUNT=2", "KEEP=1"},
			[]string{"req 1: rc=0 (success) status=200", "req 2: rc=13 (too many sessions) status=0"},
			[]string{"concurrency", ""}},
		{"upstream slower than outbound_timeout", &Config{AllowedHosts: []string{base}, Timeout: 200 * time.Millisecond},
			[]string{"URL=" + base + "/slow"},
			[]string{"req 1: rc=11 (request error) status=0"},
			[]string{"timeout"}},
		{"bad method", literal,
			[]string{"URL=" + base + "/echo", "METHOD=GE T"},
			[]string{"req 1: rc=8 (invalid method)"},
			[]string{"invalid"}},
		{"bad header line", literal,
			[]string{"URL=" + base + "/echo", "HEADERS=no colon\n"},
			[]string{"req 1: rc=9 (invalid encoding)"},
			[]string{"invalid"}},
		{"not a url", literal,
			[]string{"URL=/relative"},
			[]string{"req 1: rc=10 (invalid url)"},
			[]string{"invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, events, err := runOutbound(t, p, tt.pol, 10*time.Second, tt.env...)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w+"\n") && !strings.Contains(out, w+" ") {
					t.Errorf("output lacks %q; got:\n%s", w, out)
				}
			}
			if len(events) != len(tt.reasons) {
				t.Fatalf("got %d events %+v; want %d", len(events), events, len(tt.reasons))
			}
			for i, ev := range events {
				if ev.Reason != tt.reasons[i] {
					t.Errorf("event %d: got reason %q (%v); want %q", i, ev.Reason, ev.Err, tt.reasons[i])
				}
				// Paths and queries may hold secrets: not in the log.
				if ev.Err != nil && strings.Contains(ev.Err.Error(), "/echo") || ev.Err != nil && strings.Contains(ev.Err.Error(), "/redirect") {
					t.Errorf("event %d: error %q names the path", i, ev.Err)
				}
				if (ev.Reason == "") != (ev.Outcome == "ok") || ev.Method == "" || ev.Host == "" {
					t.Errorf("event %d: got %+v; want an outcome matching its reason, a method and a host", i, ev)
				}
			}
		})
	}
}

// TestOutboundTLSVerified: a server whose certificate the system roots do
// not vouch for is a request error, even at an allowed address.
func TestOutboundTLSVerified(t *testing.T) {
	p := outboundProgram(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	out, events, err := runOutbound(t, p, &Config{AllowedHosts: []string{srv.URL}}, 10*time.Second, "URL="+srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "req 1: rc=11 (request error)") || len(events) != 1 || events[0].Reason != "upstream" {
		t.Errorf("got %q, events %+v; want rc=11 and one upstream event", out, events)
	}
}

func TestParseAllowedHost(t *testing.T) {
	tests := []struct {
		entry string
		ok    bool
	}{
		{"https://api.example.com", true},
		{"http://127.0.0.1:8080", true},
		{"https://*.example.com", true},
		{"http://[::1]:8080/", true},
		{AllowAll, true},
		{"api.example.com", false},
		{"ftp://api.example.com", false},
		{"https://api.example.com/path", false},
		{"https://*.10.0.0.1", false},
		{"https://user@api.example.com", false},
		{"https://api.example.com:99999", false},
	}
	for _, tt := range tests {
		err := ParseAllowedHost(tt.entry)
		if (err == nil) != tt.ok {
			t.Errorf("ParseAllowedHost(%q) = %v; want ok %v", tt.entry, err, tt.ok)
		}
	}
}

func TestOutboundAllowed(t *testing.T) {
	o, err := newPolicy(Config{
		AllowedHosts: []string{"https://*.example.com", "http://api.other:8080", "https://capped.example.net"},
		CapHosts:     []string{"https://*.example.com", "http://api.other:8080"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scheme, host string
		port         int
		want         bool
	}{
		{"https", "a.example.com", 443, true},
		{"https", "a.b.example.com", 443, true},
		{"https", "example.com", 443, false}, // a wildcard needs a label
		{"http", "a.example.com", 80, false},
		{"https", "a.example.com", 8443, false},
		{"http", "api.other", 8080, true},
		{"https", "capped.example.net", 443, false}, // not in the tenant's list
		{"https", "evil-example.com", 443, false},
	}
	for _, tt := range tests {
		if got := o.allowed(tt.scheme, tt.host, tt.port); got != tt.want {
			t.Errorf("allowed(%s://%s:%d) = %v; want %v", tt.scheme, tt.host, tt.port, got, tt.want)
		}
	}
}

// TestNewNeedsLimits: the package owns no defaults, so a zero limit is the
// caller's mistake, reported rather than taken as "no limit".
func TestNewNeedsLimits(t *testing.T) {
	for _, c := range []Config{{}, {MaxRequests: 1, Timeout: time.Second}, {MaxRequests: 1, MaxBody: 1}, {Timeout: time.Second, MaxBody: 1}} {
		if _, err := New(c); !errors.Is(err, errLimits) {
			t.Errorf("New(%+v): got %v; want errLimits", c, err)
		}
	}
	if _, err := New(withDefaults(Config{})); err != nil {
		t.Errorf("New with every limit set: got %v; want nil", err)
	}
}
