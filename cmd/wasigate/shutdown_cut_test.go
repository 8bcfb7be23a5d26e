package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShutdownLogsCutRequests: requests still running when shutdown_grace
// ends are cut, and each still has its access-log event, before "stopped":
// serve returned at once after closing their connections, and the process
// exited before their handlers (whose guests stop on the cancelled
// context within milliseconds) wrote them.
func TestShutdownLogsCutRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wasigate.toml")
	text := fmt.Sprintf(`listen = "127.0.0.1:0"
cache_dir = %q
[server]
shutdown_grace = "500ms"
[[route]]
path = "/sleep"
module = %q
timeout = "60s"
env = { SLEEP_MS = "30000" }
`, filepath.Join(dir, "cache"), filepath.Join(guestsDir, "sleep.wasm"))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "-c", cfg)
	host, logDone := serveLog(t, cmd)

	const inFlight = 4
	for range inFlight {
		go func() {
			res, err := http.Get("http://" + host + "/sleep")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // the guests are sleeping
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var lines []string
	select {
	case lines = <-logDone:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not exit within 30s of SIGTERM")
	}
	cmd.Wait()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("exit took %v after SIGTERM; want about shutdown_grace (500ms)", took)
	}
	cut, stopped := 0, -1
	for i, l := range lines {
		var ev struct{ Message, Path string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Errorf("line %d is not a JSON event (%v): %q", i, err, l)
			continue
		}
		switch {
		case ev.Message == "request" && ev.Path == "/sleep":
			cut++
			if stopped >= 0 {
				t.Errorf("request event at line %d after \"stopped\" at %d", i, stopped)
			}
		case ev.Message == "stopped":
			stopped = i
		}
	}
	if cut != inFlight || stopped != len(lines)-1 {
		t.Errorf("got %d access-log events of requests cut at shutdown, \"stopped\" at line %d of %d; want %d, and last:\n%s",
			cut, stopped, len(lines), inFlight, strings.Join(lines, "\n"))
	}
}
