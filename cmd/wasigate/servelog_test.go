package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// serveLog starts cmd, a `wasigate serve`, and reads its log from
// stderr: it returns the address the server serves on (the "serving"
// event, waited for up to 60 s) and a channel that gets every log line
// once the process has exited. The log is read through a pipe of its own,
// not StderrPipe, whose Wait closes the pipe and loses lines not yet read.
func serveLog(t *testing.T, cmd *exec.Cmd) (host string, log <-chan []string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatal(err)
	}
	w.Close() // the child holds the write end: EOF when it exits
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	logDone := make(chan []string, 1)
	go func() {
		defer r.Close()
		var lines []string
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			var ev struct{ Message, Addr string }
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Message == "serving" {
				addr <- strings.TrimSuffix(strings.TrimPrefix(ev.Addr, "http://"), "/")
			}
		}
		logDone <- lines
	}()
	select {
	case host = <-addr:
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start serving within 60s")
	}
	return host, logDone
}
