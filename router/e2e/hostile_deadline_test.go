package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostileChildEnv marks the child process that runs a hostile test for
// real (inChild).
const hostileChildEnv = "WASIGATE_HOSTILE_CHILD"

// inChild reports whether the test runs in the child process. In the
// parent it runs the same test in a child process, killed after limit: a
// guest that never passes through Go again stalls every stop-the-world of
// the process it runs in, the test's own timers too, so only another
// process can make such a test fail rather than hang.
func inChild(t *testing.T, limit time.Duration) bool {
	t.Helper()
	if os.Getenv(hostileChildEnv) == "1" {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v",
		"-test.timeout="+(limit+time.Minute).String())
	cmd.Env = append(os.Environ(), hostileChildEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the test process did not end within %s (killed): a guest stalled it\n%s", limit, tail(out.String(), 4000))
	}
	if err != nil {
		t.Fatalf("child test: %v\n%s", err, tail(out.String(), 8000))
	}
	t.Log(tail(out.String(), 4000))
	return false
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// busyThreads samples this process's threads ten times over d and
// returns those found running or runnable (state R in
// /proc/self/task/*/stat) in every sample but the sampling thread itself.
func busyThreads(t *testing.T, d time.Duration) []string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self := strconv.Itoa(syscall.Gettid())
	counts := map[string]int{}
	const samples = 10
	for range samples {
		dirs, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		for _, e := range dirs {
			b, err := os.ReadFile(filepath.Join("/proc/self/task", e.Name(), "stat"))
			if err != nil || e.Name() == self {
				continue
			}
			// The state follows the command name, which may hold spaces.
			if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "R" {
				counts[e.Name()]++
			}
		}
		time.Sleep(d / samples)
	}
	var busy []string
	for tid, n := range counts {
		if n == samples {
			busy = append(busy, tid)
		}
	}
	return busy
}

// hostileRoot is router/testdata/hostile: the modules' .wat sources and
// their .wasm (build.sh).
var hostileRoot = filepath.Join(repoRoot, "router", "testdata", "hostile")

// TestHostileDeadline drops modules built to outrun their deadline into a
// scripts folder and requests each twice at once (the route's two slots),
// over real HTTP:
//   - each request ends within the route's timeout + 1 s, with its status
//     (504 at the timeout; 500 for a module refused before it runs, as the
//     invalid ones must be) and one log event naming route, module and
//     request id;
//   - meanwhile /hello, on another route, answers in under 1 s;
//   - afterwards the route's slots are free (its hello.wasm answers 200,
//     not 503) and the process is idle (its CPU time stops growing).
func TestHostileDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile guests use a core each for a second; -short")
	}
	if !inChild(t, 90*time.Second) {
		return
	}
	const timeout = time.Second
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"evil_flag", "evil_counter", "evil_fib", "evil_fill", "evil_fills200"} {
		copyFile(t, filepath.Join(hostileRoot, m+".wasm"), filepath.Join(dir, "scripts", m+".wasm"))
	}
	copyFile(t, guest("hello.wasm"), filepath.Join(dir, "scripts", "hello.wasm"))
	srv, logs := serveConfigLogs(t, dir, fmt.Sprintf(`
[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "%s"
concurrency = 2
queue_timeout = "0s"
memory = "128MiB"

[[route]]
path = "/hello"
module = %q
`, timeout, guest("hello.wasm")))
	client := &http.Client{Timeout: timeout + 10*time.Second}
	get := func(url string) (outcome, error) {
		start := time.Now()
		res, err := client.Get(url)
		if err != nil {
			return outcome{elapsed: time.Since(start)}, err
		}
		defer res.Body.Close()
		b, readErr := io.ReadAll(res.Body)
		return outcome{status: res.StatusCode, body: string(b), readErr: readErr, elapsed: time.Since(start), id: res.Header.Get("X-Request-Id")}, nil
	}
	// Warm: the first request of a script compiles it.
	if o, err := get(srv.URL + "/hello"); err != nil || o.status != 200 {
		t.Fatalf("/hello before: %v %v", o.status, err)
	}

	tests := []struct {
		module string
		status int
		reason string
	}{
		{"evil_flag.wasm", 500, "build"},    // invalid as given: refused
		{"evil_counter.wasm", 500, "build"}, // invalid as given: refused
		{"evil_fib.wasm", 504, "timeout"},
		{"evil_fill.wasm", 504, "timeout"},
		{"evil_fills200.wasm", 504, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.module, func(t *testing.T) {
			// /hello is polled all through the attack.
			stop := make(chan struct{})
			var worst time.Duration
			var helloErr error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					o, err := get(srv.URL + "/hello")
					if err == nil && o.status != 200 {
						err = fmt.Errorf("status %d", o.status)
					}
					if err != nil && helloErr == nil {
						helloErr = err
					}
					worst = max(worst, o.elapsed)
				}
			}()
			outs := make([]outcome, 2)
			errs := make([]error, 2)
			var attack sync.WaitGroup
			for i := range outs {
				attack.Add(1)
				go func() {
					defer attack.Done()
					outs[i], errs[i] = get(srv.URL + "/s/" + tc.module)
				}()
			}
			attack.Wait()
			close(stop)
			wg.Wait()

			for i, o := range outs {
				if errs[i] != nil {
					t.Errorf("request %d: %v after %s; want status %d within %s", i, errs[i], o.elapsed.Round(time.Millisecond), tc.status, timeout+time.Second)
					continue
				}
				t.Logf("request %d: %d in %s", i, o.status, o.elapsed.Round(time.Millisecond))
				if o.status != tc.status {
					t.Errorf("request %d: status %d; want %d (body %q)", i, o.status, tc.status, tail(o.body, 300))
				}
				if o.elapsed > timeout+time.Second {
					t.Errorf("request %d ended after %s; want within the timeout + 1 s (%s)", i, o.elapsed.Round(time.Millisecond), timeout+time.Second)
				}
				checkOneEvent(t, logs, o.id, "/s/*", tc.module, tc.reason)
			}
			t.Logf("/hello under attack: worst %s", worst.Round(time.Microsecond))
			if helloErr != nil {
				t.Errorf("/hello under attack: %v", helloErr)
			}
			if worst >= time.Second {
				t.Errorf("/hello under attack took %s at worst; want under 1 s", worst.Round(time.Millisecond))
			}

			// The route's two slots are free again.
			for i := range 2 {
				if o, err := get(srv.URL + "/s/hello.wasm"); err != nil || o.status != 200 {
					t.Errorf("/s/hello.wasm after (%d): status %d, %v; want 200 (slots held?)", i, o.status, err)
				}
			}
			// And nothing of the guests runs on: no thread stays runnable
			// over a second, and the process uses well under a core. (A
			// lowered guest gets little CPU on a busy machine, so the
			// threads' states are the sharper check.)
			time.Sleep(200 * time.Millisecond)
			before := processCPU(t)
			if busy := busyThreads(t, time.Second); len(busy) > 0 {
				t.Errorf("threads %v stayed runnable for 1 s after the requests ended; want none: a guest runs on", busy)
			}
			if used := processCPU(t) - before; used > 300*time.Millisecond {
				t.Errorf("the process used %s of CPU over 1 s after the requests ended; want it idle (< 300ms): a guest runs on", used)
			} else {
				t.Logf("CPU over 1 s after: %s", used)
			}
		})
	}
}
