package main

import (
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
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown builds the real binary, serves a slow route, and
// sends SIGTERM (then SIGINT) while a request is in flight: the request
// completes, new connections are refused, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "wasigate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, file, _, _ := runtime.Caller(0)
	guests := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "guests")

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "wasigate.toml")
			text := fmt.Sprintf(`listen = "127.0.0.1:0"
cache_dir = %q
[server]
shutdown_grace = "10s"
[[route]]
path = "/slow"
module = %q
`, filepath.Join(dir, "cache"), filepath.Join(guests, "slowbody.wasm"))
			if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "serve", "-c", cfg)
			host, logDone := serveLog(t, cmd)

			res, err := http.Get("http://" + host + "/slow")
			if err != nil {
				t.Fatal(err)
			}
			// The guest has sent its headers and first line and is
			// sleeping: the request is in flight.
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// Shutdown closes the listener at once; the request goes on.
			refused := false
			for i := 0; i < 100 && !refused; i++ {
				c, err := net.DialTimeout("tcp", host, time.Second)
				if err != nil {
					refused = errors.Is(err, syscall.ECONNREFUSED)
				} else {
					c.Close()
					time.Sleep(10 * time.Millisecond)
				}
			}
			if !refused {
				t.Errorf("new connections still accepted after %v", sig)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || !strings.HasSuffix(string(body), "line 5\n") {
				t.Errorf("in-flight request got %q (%v); want all 5 lines", body, err)
			}
			// The whole log, once the server has exited by itself.
			var lines []string
			select {
			case lines = <-logDone:
			case <-time.After(30 * time.Second):
				t.Fatal("server did not exit within 30s")
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit: %v; want code 0", err)
			}
			if !strings.Contains(strings.Join(lines, "\n"), `"message":"stopped"`) {
				t.Errorf("no \"stopped\" log event; log:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}
