package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fifoConfig: a static scripts folder whose script probe.wasm (fs.wasm)
// opens paths of the route's volume, an X-Sendfile route, and fs.wasm
// opening paths of a read-only and of a writable volume. Every folder
// holds a FIFO named pipe.
const fifoConfig = `
[[route]]
path = "/s/*"
scripts = "scripts"
static = true
timeout = "1s"
concurrency = 4
queue_timeout = "200ms"
volumes = { "/data" = "data" }

[[route]]
path = "/send"
module = %[1]q
argv = "tpl /data/send.tpl"
volumes = { "/data" = "data" }
sendfile = true
timeout = "1s"

[[route]]
path = "/fs"
module = %[2]q
volumes = { "/data" = "data" }
timeout = "1s"
concurrency = 4
queue_timeout = "200ms"

[[route]]
path = "/fs-rw"
module = %[2]q
volumes = { "/data" = { path = "rw", writable = true } }
env = { WRITE_PATH = "/data/pipe" }
timeout = "1s"
concurrency = 4
queue_timeout = "200ms"
`

// fifoSite serves fifoConfig and returns its base URL, its log and the
// FIFOs it made. Until the server is closed, and after the test, the
// FIFOs are kept opened and closed by the test: a request stuck in open(2)
// on one (as on a server that blocks there) is then let go, so that the
// test fails instead of hanging in the server's Close.
func fifoSite(t *testing.T) (string, *logBuffer, []string) {
	t.Helper()
	dir := t.TempDir()
	sc, data, rw := filepath.Join(dir, "scripts"), filepath.Join(dir, "data"), filepath.Join(dir, "rw")
	writeFile(t, filepath.Join(sc, "style.css"), "body {}\n")
	copyFile(t, guest("fs.wasm"), filepath.Join(sc, "probe.wasm"))
	writeFile(t, filepath.Join(data, "send.tpl"), "Content-Type: text/plain\nX-Sendfile: ${QUERY_STRING}\n\nguest body\n")
	writeFile(t, filepath.Join(data, "ok.txt"), "ok\n")
	writeFile(t, filepath.Join(rw, "ok.txt"), "ok\n")
	var fifos []string
	for _, d := range []string{sc, data, rw} {
		p := filepath.Join(d, "pipe")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		fifos = append(fifos, p)
	}
	// A link with a harmless name to the FIFO, and a socket.
	if err := os.Symlink("pipe", filepath.Join(sc, "pipe.txt")); err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("unix", filepath.Join(sc, "sock.css")); err == nil {
		t.Cleanup(func() { l.Close() })
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() }) // runs last, after the server's Close
	logs := &logBuffer{}
	srv, _ := serveSite(t, dir, fmt.Sprintf(fifoConfig, guest("tpl.wasm"), guest("fs.wasm")), logs, nil)
	t.Cleanup(func() { // runs first, before the server's Close
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				for _, p := range fifos {
					if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
						f.Close()
					}
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	})
	return srv.URL, logs, fifos
}

// threads is the process's OS thread count (/proc/self/status).
// fifoWaiters counts this process's threads asleep in a FIFO's open
// (their wchan is the kernel's wait_for_partner).
func fifoWaiters(t *testing.T) int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/wchan")
	if err != nil || len(tasks) == 0 {
		t.Skipf("no /proc/self/task: %v", err)
	}
	n := 0
	for _, p := range tasks {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "wait_for_partner" {
			n++
		}
	}
	return n
}

func threads(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no Threads line in /proc/self/status")
	return 0
}

// fifoClient fails a request rather than waiting on a server that holds
// it.
var fifoClient = &http.Client{Timeout: 4 * time.Second}

type fifoAnswer struct {
	status  int
	body    string
	id      string
	elapsed time.Duration
	err     error
}

func fifoGet(url string) fifoAnswer {
	start := time.Now()
	res, err := fifoClient.Get(url)
	if err != nil {
		return fifoAnswer{err: err, elapsed: time.Since(start)}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return fifoAnswer{status: res.StatusCode, body: string(b), id: res.Header.Get("X-Request-Id"), elapsed: time.Since(start), err: err}
}

// TestFIFOsNeverBlock: a FIFO (and a socket) in a static scripts folder,
// in an X-Sendfile volume, or opened by a guest in its read-only or
// writable volume is refused at once, never opened for reading: each
// request answers well within its timeout, with one event, and a storm of
// them leaves no thread or goroutine behind and no slot held, so the
// routes still serve (a blocked open(2) held each request's thread and
// slot for good: 64 of them left a route answering 503 until restart).
func TestFIFOsNeverBlock(t *testing.T) {
	base, logs, _ := fifoSite(t)
	cases := []struct {
		name, target string
		status       int
		reason, body string // body: a line the answer must hold
	}{
		{"static FIFO", "/s/pipe", 404, "special file", ""},
		{"static link to a FIFO", "/s/pipe.txt", 404, "special file", ""},
		{"static socket", "/s/sock.css", 404, "special file", ""},
		{"X-Sendfile of a FIFO", "/send?/data/pipe", 502, "sendfile", ""},
		{"script opening a FIFO in its volume", "/s/probe.wasm?/data/pipe", 200, "", "read /data/pipe: denied (Permission denied)"},
		{"guest reading a FIFO", "/fs?/data/pipe", 200, "", "read /data/pipe: denied (Permission denied)"},
		{"guest writing a FIFO", "/fs-rw?/data/ok.txt", 200, "", "write /data/pipe: denied (Permission denied)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := fifoGet(base + c.target)
			if a.err != nil {
				t.Fatalf("got %v after %v; want an answer within the route's 1s timeout", a.err, a.elapsed.Round(time.Millisecond))
			}
			if a.status != c.status || !strings.Contains(a.body, c.body) {
				t.Fatalf("got %d %q; want %d with %q", a.status, a.body, c.status, c.body)
			}
			if a.elapsed > 900*time.Millisecond {
				t.Errorf("answered after %v; want at once, not at the timeout", a.elapsed)
			}
			evs := requestEvents(t, logs, a.id)
			var reasons []string
			for _, ev := range evs {
				if ev.str("reason") != "" {
					reasons = append(reasons, ev.str("reason"))
				}
			}
			if len(evs) != 1 || (c.reason != "" && (len(reasons) != 1 || reasons[0] != c.reason)) || (c.reason == "" && len(reasons) != 0) {
				t.Errorf("got %d events, reasons %q; want one event, reason %q", len(evs), reasons, c.reason)
			}
			if c.reason == "special file" && !strings.Contains(logs.String(), "not a regular file") {
				t.Errorf("the event does not say why: %s", logs.String())
			}
		})
	}

	// The storm: 16 rounds of every FIFO case, at once.
	fifoClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	thBefore, grBefore := threads(t), runtime.NumGoroutine()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var late []string
	for range 16 {
		for _, c := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if a := fifoGet(base + c.target); a.err != nil || a.elapsed > 3*time.Second {
					mu.Lock()
					late = append(late, fmt.Sprintf("%s: %v after %v", c.target, a.err, a.elapsed.Round(time.Millisecond)))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(late) > 0 {
		t.Errorf("%d of %d requests unanswered or late; first: %s", len(late), 16*len(cases), late[0])
	}
	fifoClient.CloseIdleConnections()
	// Goroutines end with their connections; give them a moment.
	var grAfter int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if grAfter = runtime.NumGoroutine(); grAfter <= grBefore+4 || time.Now().After(deadline) {
			break
		}
	}
	thAfter := threads(t)
	t.Logf("threads %d -> %d, goroutines %d -> %d after %d FIFO requests", thBefore, thAfter, grBefore, grAfter, 16*len(cases))
	if grAfter > grBefore+4 {
		t.Errorf("goroutines %d -> %d after the storm; want them all ended", grBefore, grAfter)
	}
	// A blocked open(2) of a FIFO holds a thread each, asleep in the
	// kernel's wait_for_partner. The thread count alone says little: Go
	// keeps the threads it made, and a loaded machine makes more.
	if n := fifoWaiters(t); n > 0 {
		t.Errorf("%d threads still blocked opening a FIFO after %d FIFO requests (threads %d -> %d); want none", n, 16*len(cases), thBefore, thAfter)
	}
	// No slot is held: every route still serves, not 503.
	for target, want := range map[string]string{
		"/s/style.css":               "body {}\n",
		"/s/probe.wasm?/data/ok.txt": "read /data/ok.txt: ok ok",
		"/send?/data/ok.txt":         "ok\n",
		"/fs?/data/ok.txt":           "read /data/ok.txt: ok ok",
	} {
		if a := fifoGet(base + target); a.err != nil || a.status != 200 || !strings.Contains(a.body, want) {
			t.Errorf("%s after the storm: got %d %q (%v); want 200 with %q", target, a.status, a.body, a.err, want)
		}
	}
}
