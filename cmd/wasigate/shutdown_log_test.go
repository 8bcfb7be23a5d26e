package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestShutdownKeepsAccessLog: the log is written in batches by a goroutine,
// so a SIGTERM must still find every request's event on stderr, whole, and
// the final "stopped" event after them, written by the real binary to a
// pipe.
func TestShutdownKeepsAccessLog(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "wasigate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, file, _, _ := runtime.Caller(0)
	guests := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "guests")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wasigate.toml")
	text := fmt.Sprintf(`listen = "127.0.0.1:0"
cache_dir = %q
[server]
shutdown_grace = "10s"
[[route]]
path = "/hello"
module = %q
[[route]]
path = "/slow"
module = %q
`, filepath.Join(dir, "cache"), filepath.Join(guests, "hello.wasm"), filepath.Join(guests, "slowbody.wasm"))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "-c", cfg)
	host, logDone := serveLog(t, cmd)

	// Many requests from a few clients at once, so that events queue up
	// behind each other, then one in flight when the signal comes.
	const clients, each = 4, 50
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				res, err := http.Get("http://" + host + "/hello")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	res, err := http.Get("http://" + host + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || !strings.HasSuffix(string(body), "line 5\n") {
		t.Errorf("in-flight request got %q (%v); want all 5 lines", body, err)
	}
	var lines []string
	select {
	case lines = <-logDone:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not exit within 30s")
	}
	if err := cmd.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("exit: %v; want code 0", err)
	}

	hello, slow, stopped := 0, -1, -1
	for i, l := range lines {
		var ev struct {
			Message, Path string
			Status        int
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Errorf("line %d is not a whole JSON event (%v): %q", i, err, l)
			continue
		}
		switch {
		case ev.Message == "request" && ev.Path == "/hello" && ev.Status == 200:
			hello++
		case ev.Message == "request" && ev.Path == "/slow":
			slow = i
		case ev.Message == "stopped":
			stopped = i
		}
	}
	if hello != clients*each {
		t.Errorf("got %d /hello request events; want %d", hello, clients*each)
	}
	if slow < 0 {
		t.Error("no event for the request in flight at SIGTERM")
	}
	if stopped != len(lines)-1 || stopped < slow {
		t.Errorf("got \"stopped\" at line %d of %d (in-flight request's at %d); want it last", stopped, len(lines), slow)
	}
	if t.Failed() {
		t.Logf("log:\n%s", strings.Join(lines, "\n"))
	}
}

// TestServeErrorKeepsLog: when serve fails after logging (here the listen
// address is taken), its events are all written before it returns, so
// that they come before the error the command prints.
func TestServeErrorKeepsLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	hello := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "guests", "hello.wasm")
	cfg := filepath.Join(dir, "wasigate.toml")
	text := fmt.Sprintf("cache_dir = %q\n[[route]]\npath = \"/hello\"\nmodule = %q\n", filepath.Join(dir, "cache"), hello)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// A slow pipe: without the final flush, the last events would still
	// be queued when serve returns.
	logs := &slowSink{delay: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = serve(ctx, cfg, ln.Addr().String(), io.Discard, logs, nil)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("serve: got %v; want address in use", err)
	}
	got := logs.String()
	for _, want := range []string{"hello.wasm"} {
		if !strings.Contains(got, want) {
			t.Errorf("log has no %q when serve returns:\n%s", want, got)
		}
	}
}

type slowSink struct {
	syncBuffer
	delay time.Duration
}

func (s *slowSink) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.syncBuffer.Write(p)
}
