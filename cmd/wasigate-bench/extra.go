package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

type httpHandlerFunc func(http.ResponseWriter, *http.Request)

func asHandler(h any) http.Handler {
	switch h := h.(type) {
	case http.Handler:
		return h
	case httpHandlerFunc:
		return http.HandlerFunc(h)
	}
	panic(fmt.Sprintf("wasigate-bench: not a handler: %T", h))
}

// manyRoutes compares a site of 10,000 routes (each request to a random
// one of them) with a site of one route, both on the C guest.
func manyRoutes(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	const n = 10000
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	defer e.Close(ctx)
	module := filepath.Join(repo, "samples", "c", "hello.wasm")
	var big strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&big, "[[route]]\npath = \"/r/%d\"\nmodule = %q\n", i, module)
	}
	start := time.Now()
	site, err := buildSite(ctx, e, b, repo, big.String())
	if err != nil {
		return false, err
	}
	buildTime := time.Since(start)
	one, err := buildSite(ctx, e, b, repo, fmt.Sprintf("[[route]]\npath = \"/r/1\"\nmodule = %q\n", module))
	if err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp("", "wasigate-bench-routes")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	random := filepath.Join(tmp, "random.lua")
	fixed := filepath.Join(tmp, "fixed.lua")
	// Both sites get a script, so that wrk does the same work for each.
	os.WriteFile(random, []byte(fmt.Sprintf("request = function() return wrk.format(nil, \"/r/\" .. math.random(1, %d)) end\n", n)), 0o644)
	os.WriteFile(fixed, []byte("request = function() return wrk.format(nil, \"/r/\" .. math.random(1, 1)) end\n"), 0o644)
	srvBig, err := serve(site.Handler)
	if err != nil {
		return false, err
	}
	defer srvBig.close()
	srvOne, err := serve(one.Handler)
	if err != nil {
		return false, err
	}
	defer srvOne.close()
	for _, u := range []string{srvBig.url + "/r/1", srvBig.url + "/r/10000", srvOne.url + "/r/1"} {
		if err := check(u, "Hello from C"); err != nil {
			return false, err
		}
	}
	pBig, pOne := o.wrk, o.wrk
	pBig.script, pOne.script = random, fixed
	var ratios []float64
	var bigs, ones []load
	for range o.rounds {
		lb, err := runWrk(ctx, pBig, srvBig.url+"/")
		if err != nil {
			return false, err
		}
		lo, err := runWrk(ctx, pOne, srvOne.url+"/")
		if err != nil {
			return false, err
		}
		bigs, ones = append(bigs, lb), append(ones, lo)
		ratios = append(ratios, lb.reqs/lo.reqs)
	}
	reqs := func(l load) float64 { return l.reqs }
	fmt.Fprintf(w, "Routes: %d routes built in %s; C guest, a random route per request; %d rounds, medians\n", n, buildTime.Round(time.Millisecond), o.rounds)
	fmt.Fprintf(w, "  %d routes: %.0f req/s; 1 route: %.0f req/s\n\n", n, median(bigs, reqs), median(ones, reqs))
	r := medianOf(ratios)
	return printGoals(w, []goal{{"6a. 10,000 routes / 1 route throughput", r, ">= 0.90", r >= 0.90}}), nil
}

// restartGuests is how many distinct Go guests -restart loads.
const restartGuests = 50

// restartGuest is a Go guest made distinct by its number.
const restartGuest = `//go:build ignore

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Print("Content-Type: text/plain\n\n")
	fmt.Printf("guest %d: %s\n", GUEST_ID, os.Getenv("REQUEST_METHOD"))
}
`

// restart warms the cache with 50 distinct Go guests (built and compiled
// once, kept in -cache), then starts a fresh process of this command that
// loads them from the cache, and times it from exec to ready.
func restart(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	dir := filepath.Join(o.cacheDir, "restart")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	var cfg strings.Builder
	for i := range restartGuests {
		src := filepath.Join(dir, fmt.Sprintf("g%02d.go", i))
		text := strings.ReplaceAll(restartGuest, "GUEST_ID", strconv.Itoa(i))
		if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
			return false, err
		}
		fmt.Fprintf(&cfg, "[[route]]\npath = \"/g/%d\"\nmodule = %q\n", i, src)
	}
	config := filepath.Join(dir, "restart.toml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o644); err != nil {
		return false, err
	}
	fmt.Fprintf(w, "Restart: warming the cache with %d Go guests in %s (slow only the first time)...\n", restartGuests, dir)
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	start := time.Now()
	_, err = buildSite(ctx, e, b, dir, cfg.String())
	e.Close(ctx)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(w, "  warm-up took %s\n", time.Since(start).Round(time.Millisecond))

	times, err := timeChildren(ctx, o.rounds, "-restart-child", config, "-cache", o.cacheDir)
	if err != nil {
		return false, err
	}
	t := medianOf(times)
	fmt.Fprintf(w, "  exec to ready, %d rounds: %v s\n\n", o.rounds, times)
	goals := []goal{{fmt.Sprintf("5. restart, %d Go guests ready (s)", restartGuests), t, "< 2", t < 2}}
	py, err := restartPython(ctx, repo, o, w)
	if err != nil {
		return false, err
	}
	return printGoals(w, append(goals, py...)), nil
}

// restartChild is the restarted server: it builds the site from the warm
// cache, says "ready", then checks one request per route and says "ok".
func restartChild(ctx context.Context, config, cacheDir string, w io.Writer) error {
	text, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	e, b, err := newEngine(ctx, cacheDir)
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	site, err := buildSite(ctx, e, b, filepath.Dir(config), string(text))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "ready")
	for i := range restartGuests {
		rec := httptest.NewRecorder()
		site.Handler.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/g/%d", i), nil))
		if want := fmt.Sprintf("guest %d: GET", i); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			return fmt.Errorf("/g/%d: got %d %q; want 200 with %q", i, rec.Code, rec.Body.String(), want)
		}
	}
	fmt.Fprintln(w, "ok")
	return nil
}

// sleepGuest holds its instance for SLEEP_MS (the query string).
const sleepGuest = `//go:build ignore

package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	ms, _ := strconv.Atoi(os.Getenv("QUERY_STRING"))
	time.Sleep(time.Duration(ms) * time.Millisecond)
	fmt.Print("Content-Type: text/plain\n\nslept\n")
}
`

// inFlightRSS holds n Go guests in flight at once and compares the
// process's resident memory with their linear memories added up.
func inFlightRSS(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	n := o.rssN
	dir := filepath.Join(o.cacheDir, "rss")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	src := filepath.Join(dir, "sleep.go")
	if err := os.WriteFile(src, []byte(sleepGuest), 0o644); err != nil {
		return false, err
	}
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	defer e.Close(ctx)
	site, err := buildSite(ctx, e, b, dir, fmt.Sprintf(`
[[route]]
path = "/sleep"
module = %q
concurrency = %d
queue_timeout = "60s"
timeout = "120s"
`, src, n+10))
	if err != nil {
		return false, err
	}
	srv, err := serve(site.Handler)
	if err != nil {
		return false, err
	}
	defer srv.close()
	if err := check(srv.url+"/sleep?1", "slept"); err != nil {
		return false, err
	}
	runtime.GC()
	base := rss()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	// Long enough for all n to start on two cores (a Go instance takes
	// milliseconds of CPU to create and initialise).
	hold := 3*time.Second + time.Duration(n)*6*time.Millisecond
	url := fmt.Sprintf("%s/sleep?%d", srv.url, hold.Milliseconds())
	peakInst, peakLinear, peakRSS, failures := holdInFlight(e, client, url, n, hold+30*time.Second)
	mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "RSS: %d Go guests held in flight (%s each); failures %d\n", n, hold.Round(time.Millisecond), failures)
	fmt.Fprintf(w, "  peak in flight %d; their linear memory %.0f MiB (%.2f MiB each); process RSS %.0f MiB (%.0f MiB before)\n\n",
		peakInst, mb(peakLinear), mb(peakLinear)/float64(max(peakInst, 1)), mb(peakRSS), mb(base))
	r := float64(peakRSS) / float64(max(peakLinear, 1))
	return printGoals(w, []goal{{fmt.Sprintf("6b. RSS / linear memory with %d in flight", peakInst), r, "< 1.5", r < 1.5 && peakInst == n && failures == 0}}), nil
}

// holdInFlight sends n GETs of url at once (guests that sleep, so that all
// are in flight together) and samples while they run, keeping the sample
// with the most instances, then the highest RSS. It waits for every answer
// but samples for limit at most; failures counts answers other than 200.
func holdInFlight(e interface{ MemoryInUse() (int, uint64) }, client *http.Client, url string, n int, limit time.Duration) (peakInst int, peakLinear, peakRSS uint64, failures int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Get(url)
			ok := err == nil && res.StatusCode == 200
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if !ok {
				mu.Lock()
				failures++
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(limit)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for time.Now().Before(deadline) {
		select {
		case <-done:
			break loop
		case <-time.After(50 * time.Millisecond):
		}
		inst, linear := e.MemoryInUse()
		if r := rss(); inst > peakInst || (inst == peakInst && r > peakRSS) {
			peakInst, peakLinear, peakRSS = inst, linear, r
		}
	}
	<-done
	return peakInst, peakLinear, peakRSS, failures
}

// rss returns the process's resident set size in bytes.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
