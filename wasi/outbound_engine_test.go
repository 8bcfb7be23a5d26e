package wasi

// The engine's side of outbound HTTP: a run's requests end with the run,
// under either deadline mode, and what one run costs. The policy and the
// host module have their own tests in internal/outbound.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/outbound"
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
func runOutbound(t *testing.T, p *Program, pol *seam.OutboundPolicy, timeout time.Duration, env ...string) (string, []outbound.Event, error) {
	t.Helper()
	var cfg Config
	if pol != nil {
		if _, err := newOutbound(*pol); err != nil {
			t.Fatal(err)
		}
		cfg.Outbound = *pol
	}
	p, err := p.Module().Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []outbound.Event
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = outbound.WithObserver(ctx, func(ev outbound.Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	err = p.Run(ctx, &Call{Env: env, Stdout: &stdout})
	return stdout.String(), events, err
}

// TestOutboundStopped: an upstream slower than the run's deadline, and a
// guest that leaves its responses open, end with the run; no connection of
// the run stays open.
func TestOutboundStopped(t *testing.T) {
	for _, mode := range []string{DeadlineInstrument, DeadlineWazero} {
		t.Run(mode, func(t *testing.T) { testOutboundStopped(t, outboundProgramWith(t, Options{Deadline: mode})) })
	}
}

func testOutboundStopped(t *testing.T, p *Program) {
	_, base := upstream(t)
	pol := &seam.OutboundPolicy{AllowedHosts: []string{base}}
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
	if p, err = m.Prepare(Config{Outbound: seam.OutboundPolicy{AllowedHosts: []string{srv.URL}}}); err != nil {
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
