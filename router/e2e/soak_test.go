package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakConfig has one route per way a run can end, beside a healthy one;
// the holdfiles guest holds 50 files and 8 MiB when it is stopped.
// %[1]s is testdata/guests.
const soakConfig = `
[[route]]
path = "/hello"
module = "%[1]s/hello.wasm"

[[route]]
path = "/hold"
module = "%[1]s/holdfiles.wasm"
volumes = { "/data" = "data" }
env = { FILES = "50", MIB = "8" }
timeout = "300ms"
max_output = "1GiB"

[[route]]
path = "/hold-long"
module = "%[1]s/holdfiles.wasm"
volumes = { "/data" = "data" }
env = { FILES = "50", MIB = "8" }
timeout = "30s"

[[route]]
path = "/flood-cap"
module = "%[1]s/flood.wasm"
max_output = "256KiB"

[[route]]
path = "/trap"
module = "%[1]s/trap.wasm"
`

// TestSoakEndings runs rounds of every way a guest run can end (timeout
// while sleeping, timeout while blocked writing to a client that does not
// read, client gone while the guest sleeps, trap, output cap) with a
// healthy route served in parallel, and checks that the process holds
// nothing afterwards: open files, pooled instance memory and RSS come back
// to where they were (a guest stopped inside a WASI call once kept its
// whole instance:
// cmd/wasigate/DECISIONS.md#every-ending-releases-memory-and-files).
//
// The quick version runs 5 rounds in the normal suite. The full one, 200
// rounds: WASIGATE_LOAD=1 go test ./router -run TestSoakEndings -v
func TestSoakEndings(t *testing.T) {
	full := os.Getenv("WASIGATE_LOAD") == "1"
	rounds := 5
	if full {
		rounds = 200
	}
	if testing.Short() && !full {
		t.Skip("soak test; -short")
	}
	eng, _ := sharedEngine(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := serveConfigTo(t, dir, fmt.Sprintf(soakConfig, guest("")), io.Discard)
	c := loadClient()
	addr := srv.Listener.Addr().String()

	snap := func() (fds int, rss int64, instances int, bytes uint64) {
		c.CloseIdleConnections()
		// Give the server's connection goroutines time to see the
		// closes, then count at rest.
		deadline := time.Now().Add(5 * time.Second)
		for {
			runtime.GC()
			instances, bytes = eng.MemoryInUse()
			if instances == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		return processFDs(t), vmRSS(), instances, bytes
	}

	var bad atomic.Int64
	expect := func(what string, got, want int) {
		if got != want {
			bad.Add(1)
			t.Errorf("%s: got status %d; want %d", what, got, want)
		}
	}
	status := func(path string) int {
		res, err := c.Get(srv.URL + path)
		if err != nil {
			return -1
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	round := func() {
		var wg sync.WaitGroup
		run := func(f func()) {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		}
		run(func() { expect("timeout in sleep", status("/hold?sleep"), http.StatusGatewayTimeout) })
		run(func() { expect("trap", status("/trap"), http.StatusBadGateway) })
		// The output cap aborts a 200 after the first bytes: the body
		// read fails, the status is what it is.
		run(func() { expect("output cap", status("/flood-cap"), http.StatusOK) })
		run(func() {
			// Client gone while the guest sleeps.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/hold-long?sleep", nil)
			if res, err := c.Do(req); err == nil {
				res.Body.Close()
				bad.Add(1)
				t.Errorf("client gone: got status %d; want the request cancelled", res.StatusCode)
			}
		})
		run(func() {
			// A client that sends its request and never reads: the guest
			// blocks writing once the socket buffers are full, and must
			// still be stopped at its 300 ms timeout.
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				bad.Add(1)
				t.Errorf("dial: %v", err)
				return
			}
			defer conn.Close()
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetReadBuffer(4096)
			}
			fmt.Fprintf(conn, "GET /hold?write HTTP/1.1\r\nHost: soak\r\n\r\n")
			time.Sleep(700 * time.Millisecond)
		})
		for range 4 {
			run(func() { expect("healthy", status("/hello"), http.StatusOK) })
		}
		wg.Wait()
	}

	round() // warm up: modules, pools, connections
	fds0, rss0, _, _ := snap()
	for range rounds {
		round()
	}
	fds1, rss1, inst1, bytes1 := snap()
	t.Logf("after %d rounds: open fds %d -> %d, RSS %.1f -> %.1f MiB, pooled instances in use %d (%d bytes)",
		rounds, fds0, fds1, float64(rss0)/(1<<20), float64(rss1)/(1<<20), inst1, bytes1)
	if inst1 != 0 || bytes1 != 0 {
		t.Errorf("pooled memory in use after the soak: %d instances, %d bytes; want 0", inst1, bytes1)
	}
	// A few descriptors may come and go (the runtime's, the test client's
	// connections closing); a leak is one or more per stopped run.
	if fds1 > fds0+8 {
		t.Errorf("open fds grew from %d to %d over %d rounds", fds0, fds1, rounds)
	}
	if rss0 > 0 && float64(rss1) > 1.25*float64(rss0)+16<<20 {
		t.Errorf("RSS grew from %d to %d bytes over %d rounds; want within 25%% + 16 MiB", rss0, rss1, rounds)
	}
	// The healthy route answers after it all.
	expect("healthy after", status("/hello"), http.StatusOK)
}
