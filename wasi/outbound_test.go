package wasi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

func outboundProgram(t *testing.T) *Program { return outboundProgramWith(t, Options{}) }

func outboundProgramWith(t *testing.T, opts Options) *Program {
	t.Helper()
	ctx := context.Background()
	e, err := NewEngine(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	m, err := e.CompileFile(ctx, filepath.Join(repoDir, "testdata", "guests", "outbound.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runOutbound runs outbound.wasm with env under policy and returns its
// output, the events it caused and Run's error.
func runOutbound(t *testing.T, p *Program, pol *OutboundPolicy, timeout time.Duration, env ...string) (string, []OutboundEvent, error) {
	t.Helper()
	var cfg Config
	if pol != nil {
		if _, err := NewOutbound(*pol); err != nil {
			t.Fatal(err)
		}
		cfg.Outbound = *pol
	}
	p, err := p.Module().Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []OutboundEvent
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = WithOutboundObserver(ctx, func(ev OutboundEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	err = p.Run(ctx, &Call{Env: env, Stdout: &stdout})
	return stdout.String(), events, err
}

// TestOutbound drives the guest's requests through the host module over
// real HTTP: what the guest reads back, and exactly one event per request.
func TestOutbound(t *testing.T) {
	p := outboundProgram(t)
	_, base := upstream(t)
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	literal := &OutboundPolicy{AllowedHosts: []string{base}}
	tests := []struct {
		name    string
		pol     *OutboundPolicy
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
		{"another port of an allowed address", &OutboundPolicy{AllowedHosts: []string{"http://127.0.0.1:1"}},
			[]string{"URL=" + base + "/echo"},
			[]string{"req 1: rc=7 (destination not allowed)"},
			[]string{"host"}},
		{"a public name that resolves to loopback", &OutboundPolicy{
			AllowedHosts: []string{"http://api.example:" + port},
			LookupIP: func(context.Context, string, string) ([]net.IP, error) {
				return []net.IP{net.ParseIP("127.0.0.1")}, nil
			}},
			[]string{"URL=http://api.example:" + port + "/echo"},
			[]string{"req 1: rc=7 (destination not allowed)"},
			[]string{"address"}},
		{"ipv4-mapped loopback by name", &OutboundPolicy{
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
		{"more requests than the run may make", &OutboundPolicy{AllowedHosts: []string{base}, MaxRequests: 2},
			[]string{"URL=" + base + "/echo", "COUNT=3"},
			[]string{"req 2: rc=0 (success) status=200", "req 3: rc=13 (too many sessions) status=0"},
			[]string{"", "", "requests"}},
		{"a body over the cap", &OutboundPolicy{AllowedHosts: []string{base}, MaxBody: 3 << 20},
			[]string{"URL=" + base + "/big"},
			[]string{"req 1: rc=0 (success) status=200", "body rc=12 bytes=3145728", "close rc=0"},
			[]string{"max_body"}},
		{"tenant's concurrency used up", &OutboundPolicy{AllowedHosts: []string{base}, Slots: make(chan struct{}, 1), Timeout: 200 * time.Millisecond},
			[]string{"URL=" + base + "/echo", "COUNT=2", "KEEP=1"},
			[]string{"req 1: rc=0 (success) status=200", "req 2: rc=13 (too many sessions) status=0"},
			[]string{"concurrency", ""}},
		{"upstream slower than outbound_timeout", &OutboundPolicy{AllowedHosts: []string{base}, Timeout: 200 * time.Millisecond},
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

// TestOutboundStopped: an upstream slower than the run's deadline, and a
// guest that leaves its responses open, end with the run; no connection of
// the run stays open (issue 16).
func TestOutboundStopped(t *testing.T) {
	for _, mode := range []string{DeadlineInstrument, DeadlineWazero} {
		t.Run(mode, func(t *testing.T) { testOutboundStopped(t, outboundProgramWith(t, Options{Deadline: mode})) })
	}
}

func testOutboundStopped(t *testing.T, p *Program) {
	_, base := upstream(t)
	pol := &OutboundPolicy{AllowedHosts: []string{base}}
	settle := func() int {
		time.Sleep(50 * time.Millisecond)
		return openFDs(t)
	}
	before := settle()
	tests := []struct {
		name    string
		timeout time.Duration
		env     []string
		reason  string
	}{
		{"slow upstream", 300 * time.Millisecond, []string{"URL=" + base + "/slow"}, "stopped"},
		{"slow body", 300 * time.Millisecond, []string{"URL=" + base + "/slowbody"}, "stopped"},
		{"responses left open", 5 * time.Second, []string{"URL=" + base + "/big", "COUNT=3", "KEEP=1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			out, events, err := runOutbound(t, p, pol, tt.timeout, tt.env...)
			took := time.Since(start)
			if tt.timeout < time.Second {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v; want the deadline", err)
				}
				if took > tt.timeout+time.Second {
					t.Errorf("run took %v; want about %v", took, tt.timeout)
				}
			} else if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			if len(events) == 0 {
				t.Fatal("got no event")
			}
			for _, ev := range events {
				if ev.Reason != tt.reason {
					t.Errorf("got reason %q (%v); want %q", ev.Reason, ev.Err, tt.reason)
				}
			}
			var now int
			for i := 0; i < 40; i++ {
				if now = settle(); now <= before {
					break
				}
			}
			if now > before {
				t.Errorf("got %d open fds after the run; want at most %d as before", now, before)
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
	out, events, err := runOutbound(t, p, &OutboundPolicy{AllowedHosts: []string{srv.URL}}, 10*time.Second, "URL="+srv.URL+"/")
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
		{AllowAllHosts, true},
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
	o, err := NewOutbound(OutboundPolicy{
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

// BenchmarkOutboundGet: one run of outbound.wasm making one GET to a
// loopback upstream: instance, request on a fresh connection, body, close.
func BenchmarkOutboundGet(b *testing.B) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, filepath.Join(repoDir, "testdata", "guests", "outbound.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := m.Prepare(Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	if p, err = m.Prepare(Config{Outbound: OutboundPolicy{AllowedHosts: []string{srv.URL}}}); err != nil {
		b.Fatal(err)
	}
	env := []string{"URL=" + srv.URL + "/"}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Run(ctx, &Call{Env: env, Stdout: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}
