package main

import (
	"context"
	"fmt"
	"io"
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

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds the real binary once for the tests that need it.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wasigate-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "wasigate")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// hostile is router/testdata/hostile: modules built to outrun their
// deadline, .wat next to .wasm.
var hostile = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "router", "testdata", "hostile")
}()

// TestCheckSpinningInit: `wasigate check` of a reactor whose _initialize
// never returns ends soon after snapshot_init_timeout, succeeds, and says
// which module runs without its snapshot and why.
func TestCheckSpinningInit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wasigate.toml")
	text := fmt.Sprintf(`cache_dir = %q
[server]
snapshot_init_timeout = "1s"
[[route]]
path = "/init"
module = %q
entrypoint = "serve"
memory = "128MiB"
`, filepath.Join(dir, "cache"), filepath.Join(hostile, "evil_init.wasm"))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "check", "-c", cfg).CombinedOutput()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("check still running after a minute: killed\n%s", out)
	}
	t.Logf("check of a spinning init: %s\n%s", took.Round(time.Millisecond), out)
	if err != nil {
		t.Errorf("check: %v; want success with a warning", err)
	}
	// The module compiles in well under a second; the init is given 1 s
	// and 1 s more to stop.
	if took > 10*time.Second {
		t.Errorf("check took %s; want about snapshot_init_timeout (1s) + 1 s", took.Round(time.Millisecond))
	}
	for _, want := range []string{"/init (", "evil_init.wasm", "no snapshot"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}

// TestShutdownWithSpinningGuests runs the real binary with guests built to
// outrun their deadline (plain recursion, 64 MiB memory.fill loops; their
// route's timeout is longer than the test) and sends SIGTERM while they
// spin: the process exits within shutdown_grace plus a second. A guest
// that never passes through Go used to stall a stop-the-world of the
// runtime, which ignored SIGTERM until kill -9.
func TestShutdownWithSpinningGuests(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	const grace = 2 * time.Second
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wasigate.toml")
	text := fmt.Sprintf(`listen = "127.0.0.1:0"
cache_dir = %q
[server]
shutdown_grace = "%s"
[[route]]
path = "/fib"
module = %q
timeout = "120s"
[[route]]
path = "/fills"
module = %q
timeout = "120s"
memory = "128MiB"
`, filepath.Join(dir, "cache"), grace, filepath.Join(hostile, "evil_fib.wasm"), filepath.Join(hostile, "evil_fills200.wasm"))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-c", cfg)
	host, logDone := serveLog(t, cmd)
	// Two guests of each kind spin (a client that leaves stops a guest, so
	// these stay connected until the server goes).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, p := range []string{"/fib", "/fib", "/fills", "/fills"} {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+host+p, nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	time.Sleep(time.Second)

	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		took := time.Since(start)
		t.Logf("SIGTERM with 4 guests spinning: exited in %s (%v)", took.Round(time.Millisecond), err)
		if took > grace+time.Second {
			t.Errorf("exited %s after SIGTERM; want within shutdown_grace (%s) + 1 s", took.Round(time.Millisecond), grace)
		}
		lines := <-logDone
		if !strings.Contains(strings.Join(lines, "\n"), `"message":"stopped"`) {
			t.Errorf("no \"stopped\" log event; log:\n%s", strings.Join(lines, "\n"))
		}
	case <-time.After(grace + 20*time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running %s after SIGTERM: killed", grace+20*time.Second)
	}
}
