package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadConfig is a healthy route beside hostile ones. %[1]s is
// testdata/guests.
const loadConfig = `
[[route]]
path = "/hello"
module = "%[1]s/hello.wasm"

[[route]]
path = "/loop"
module = "%[1]s/loop.wasm"
timeout = "%[2]s"
concurrency = 64

[[route]]
path = "/trap"
module = "%[1]s/trap.wasm"

[[route]]
path = "/flood"
module = "%[1]s/flood.wasm"
max_output = "256KiB"

[[route]]
path = "/memhog"
module = "%[1]s/memhog_trap.wasm"
memory = "4MiB"

[[route]]
path = "/noend"
module = "%[1]s/noend.wasm"
`

// loadClient is an HTTP client with enough idle connections for the
// load's workers, so that the test measures the server, not dialing.
func loadClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}
}

// hammer sends GETs to url from workers goroutines until ctx is done and
// returns how many got status want, and how many did not.
func hammer(ctx context.Context, c *http.Client, url string, workers int, want int) (ok, bad int64) {
	var wg sync.WaitGroup
	var nOK, nBad atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				res, err := c.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						nBad.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == want {
					nOK.Add(1)
				} else {
					nBad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return nOK.Load(), nBad.Load()
}

// TestLoadFaults measures that hostile guests do not take the server down:
//
//   - a healthy route's throughput with and without 16 guests looping on
//     another route, in the same run (goal: less than a 3x drop; every
//     healthy request succeeds);
//   - RSS and goroutines after 1,000 and after N requests of a mixed
//     healthy/hostile load (goal: within 25%).
//
// The quick version runs in the normal suite with loose checks. The full
// one: WASIGATE_LOAD=1 go test ./router -run TestLoadFaults -v
// (WASIGATE_LOAD_REQUESTS sets N, default 100000).
func TestLoadFaults(t *testing.T) {
	full := os.Getenv("WASIGATE_LOAD") == "1"
	if testing.Short() && !full {
		t.Skip("load test; -short")
	}
	total := 3000
	window := 1 * time.Second
	if full {
		total = 100000
		window = 5 * time.Second
		if n, err := strconv.Atoi(os.Getenv("WASIGATE_LOAD_REQUESTS")); err == nil && n > 1000 {
			total = n
		}
	}
	text := fmt.Sprintf(loadConfig, guest(""), "1s")
	// The log is written (its cost is part of serving) but not kept: a
	// buffer of 100,000 events would be the leak this test looks for.
	srv := serveConfigTo(t, t.TempDir(), text, io.Discard)
	c := loadClient()

	t.Run("healthy route under a looping attack", func(t *testing.T) {
		measure := func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), window)
			defer cancel()
			start := time.Now()
			ok, bad := hammer(ctx, c, srv.URL+"/hello", 4, http.StatusOK)
			if bad > 0 {
				t.Errorf("%d healthy requests failed", bad)
			}
			return float64(ok) / time.Since(start).Seconds()
		}
		measure() // warm up connections and caches
		calm := measure()

		attack, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var attacks atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _ := hammer(attack, c, srv.URL+"/loop", 16, http.StatusGatewayTimeout)
			attacks.Add(ok)
		}()
		time.Sleep(200 * time.Millisecond) // let the 16 guests start looping
		loaded := measure()
		stop()
		wg.Wait()

		ratio := calm / max(loaded, 1e-9)
		t.Logf("healthy /hello: %.0f req/s calm, %.0f req/s with 16 looping guests: %.2fx drop (goal < 3x); %d loops timed out",
			calm, loaded, ratio, attacks.Load())
		// Throughput is a performance goal, asserted only in the full run
		// (WASIGATE_LOAD=1, 5 s windows): < 3x. The quick run's 1 s window
		// on a shared machine swung from 2.6x to 75x in six runs, so it
		// checks what does not depend on timing: every healthy request was
		// answered 200 (above) and the route kept serving under attack.
		if full && ratio >= 3 {
			t.Errorf("healthy throughput dropped %.2fx under attack; want < 3x", ratio)
		}
		if loaded <= 0 {
			t.Errorf("no healthy request served under attack")
		}
	})

	t.Run("no leak under mixed load", func(t *testing.T) {
		paths := []struct {
			path   string
			status int
		}{
			{"/hello", 200}, {"/hello", 200}, {"/hello", 200}, {"/hello", 200},
			{"/trap", 502}, {"/flood", 200}, {"/memhog", 502}, {"/noend", 502},
		}
		var sent atomic.Int64
		var bad atomic.Int64
		type sample struct {
			rss        int64
			goroutines int
			heap       uint64 // Go heap in use, to tell a heap leak from other RSS
		}
		snap := func() sample {
			runtime.GC()
			// Idle keep-alive connections hold a goroutine each: count
			// the server at rest.
			c.CloseIdleConnections()
			time.Sleep(50 * time.Millisecond)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return sample{vmRSS(), runtime.NumGoroutine(), ms.HeapInuse}
		}
		run := func(n int64) {
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; ; i += 4 {
						if sent.Add(1) > n {
							return
						}
						p := paths[i%len(paths)]
						res, err := c.Get(srv.URL + p.path)
						if err != nil {
							bad.Add(1)
							continue
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						// flood is cut at max_output: an aborted 200.
						if res.StatusCode != p.status {
							bad.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			sent.Store(n)
		}
		run(1000)
		at1k := snap()
		run(int64(total))
		atN := snap()
		t.Logf("after 1,000 requests: RSS %.1f MiB, heap %.1f MiB, %d goroutines; after %d: RSS %.1f MiB, heap %.1f MiB, %d goroutines (%+.1f%% RSS)",
			float64(at1k.rss)/(1<<20), float64(at1k.heap)/(1<<20), at1k.goroutines, total,
			float64(atN.rss)/(1<<20), float64(atN.heap)/(1<<20), atN.goroutines,
			100*float64(atN.rss-at1k.rss)/float64(max(at1k.rss, 1)))
		if n := bad.Load(); n > 0 {
			t.Errorf("%d requests got an unexpected status", n)
		}
		// Loose in the quick run (a short run is noise); 25%% in the full.
		rssLimit, grLimit := 2.0, at1k.goroutines+50
		if full {
			rssLimit, grLimit = 1.25, at1k.goroutines+at1k.goroutines/4
		}
		if at1k.rss > 0 && float64(atN.rss) > rssLimit*float64(at1k.rss) {
			t.Errorf("RSS grew from %d to %d bytes; want within %.0f%%", at1k.rss, atN.rss, 100*(rssLimit-1))
		}
		if atN.goroutines > grLimit {
			t.Errorf("goroutines grew from %d to %d", at1k.goroutines, atN.goroutines)
		}
	})
}
