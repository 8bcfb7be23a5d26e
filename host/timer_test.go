package host

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveWithInfo serves h as the router does, with an Info in the context.
func serveWithInfo(h http.Handler) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := WithInfo(r.Context())
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// TestTimerFlushesStream: the run's one timer sends a streaming guest's
// lines while it runs, far from its deadline or near it: each line must
// reach the client before the guest writes the next (it waits for that).
func TestTimerFlushesStream(t *testing.T) {
	for _, timeout := range []time.Duration{0, 400 * time.Millisecond} {
		ack := make(chan struct{})
		h := &Handler{Timeout: timeout, Runner: RunnerFunc(func(ctx context.Context, inv *Invocation) error {
			io.WriteString(inv.Stdout, "Content-Type: text/plain\n\n")
			for i := 0; i < 5; i++ {
				fmt.Fprintf(inv.Stdout, "line %d\n", i)
				select {
				case <-ack:
				case <-time.After(2 * time.Second):
					return fmt.Errorf("line %d not received", i)
				}
			}
			return nil
		})}
		srv := serveWithInfo(h)
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(res.Body)
		for i := 0; i < 5; i++ {
			start := time.Now()
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("timeout %v line %d: %v", timeout, i, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("timeout %v: %q got after %v; want within 500ms", timeout, line, d)
			}
			ack <- struct{}{}
		}
		res.Body.Close()
		srv.Close()
	}
}

// TestTimerDeadlineUnblocksWrite: a guest blocked writing to a client
// that never reads is stopped at its deadline, not at write_timeout,
// though the timer also served the output's flushes.
func TestTimerDeadlineUnblocksWrite(t *testing.T) {
	var took atomic.Int64
	h := &Handler{Timeout: 300 * time.Millisecond, WriteTimeout: 20 * time.Second, Runner: RunnerFunc(func(ctx context.Context, inv *Invocation) error {
		io.WriteString(inv.Stdout, "Content-Type: text/plain\n\n")
		buf := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 2000; i++ {
			if _, err := inv.Stdout.Write(buf); err != nil {
				return err
			}
		}
		return nil
	})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { took.Store(int64(time.Since(start))) }()
		ctx, _ := WithInfo(r.Context())
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	deadline := time.Now().Add(5 * time.Second)
	for took.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Duration(took.Load()); d == 0 || d > 2*time.Second {
		t.Errorf("got the handler returning after %v (0: still running); want about the 300ms timeout", d)
	}
}

// TestTimerDeadlineBusyWriter: a guest writing a byte every 0.3 ms keeps
// the timer set for a flush nearly all the time; its deadline must still
// stop it.
func TestTimerDeadlineBusyWriter(t *testing.T) {
	h := &Handler{Timeout: 100 * time.Millisecond, Runner: RunnerFunc(func(ctx context.Context, inv *Invocation) error {
		io.WriteString(inv.Stdout, "Content-Type: text/plain\n\n")
		end := time.Now().Add(3 * time.Second)
		for time.Now().Before(end) {
			if _, err := inv.Stdout.Write([]byte("x")); err != nil {
				return err
			}
			time.Sleep(300 * time.Microsecond)
		}
		return nil
	})}
	srv := serveWithInfo(h)
	defer srv.Close()
	start := time.Now()
	res, err := http.Get(srv.URL)
	if err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("got an answer after %v; want about the 100ms timeout", d)
	}
}

// TestTimerShortRunsNoTimeout: runs well inside a short timeout, each
// arming a flush, are never taken for timed out.
func TestTimerShortRunsNoTimeout(t *testing.T) {
	h := &Handler{Timeout: 30 * time.Millisecond, Runner: RunnerFunc(func(ctx context.Context, inv *Invocation) error {
		io.WriteString(inv.Stdout, "Content-Type: text/plain\n\nhello")
		time.Sleep(time.Millisecond)
		io.WriteString(inv.Stdout, "world")
		return nil
	})}
	srv := serveWithInfo(h)
	defer srv.Close()
	bad := 0
	for i := 0; i < 300; i++ {
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "helloworld" {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("got %d of 300 runs failed; want 0", bad)
	}
}
