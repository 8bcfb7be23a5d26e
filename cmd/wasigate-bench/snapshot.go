package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"
)

// rubyWasm is what `npm install --prefix samples/ruby` installs.
func rubyWasm(repo string) string {
	return filepath.Join(repo, "samples", "ruby", "node_modules", "@ruby", "3.4-wasm-wasi", "dist", "ruby+stdlib.wasm")
}

// rubySite serves the scripts in dir with ruby.wasm at /s/* (from the
// snapshot, preload cgi, as the sample site) and at /n/* (snapshot =
// false: Ruby boots in every request).
func rubySite(repo, dir string) string {
	return fmt.Sprintf(`
[[interpreter]]
ext = ".rb"
module = %q
preload = ["cgi"]

[[route]]
path = "/s/*"
scripts = %[2]q
concurrency = 128
queue_timeout = "60s"
timeout = "120s"

[[route]]
path = "/n/*"
scripts = %[2]q
snapshot = false
concurrency = 128
queue_timeout = "60s"
timeout = "120s"
`, rubyWasm(repo), dir)
}

// snapshotBench is -snapshot (issue 12): the Ruby CGI sample from the
// snapshot and booting Ruby per request, against fork+exec of native
// python3 serving the Python hello (the figure a shared host's user knows),
// then the RSS of 64 Ruby instances in flight.
func snapshotBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	if _, err := os.Stat(rubyWasm(repo)); err != nil {
		return false, fmt.Errorf("ruby.wasm not installed (npm install --prefix samples/ruby): %w", err)
	}
	native, err := exec.LookPath("python3")
	if err != nil {
		return false, err
	}
	if p, err := filepath.EvalSymlinks("/usr/bin/python3"); err == nil {
		native = p
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	defer e.Close(ctx)
	site, err := buildSite(ctx, e, b, repo, rubySite(repo, scripts))
	if err != nil {
		return false, err
	}
	wg, err := serve(site.Handler)
	if err != nil {
		return false, err
	}
	defer wg.close()
	py, err := serve(&cgi.Handler{Path: native, Args: []string{filepath.Join(scripts, "hello.py")}, Root: "/"})
	if err != nil {
		return false, err
	}
	defer py.close()
	targets := []target{
		{name: "wasigate hello.rb (snapshot)", url: wg.url + "/s/hello.rb", want: "from Ruby"},
		{name: "wasigate hello.rb, snapshot = false", url: wg.url + "/n/hello.rb", want: "from Ruby"},
		{name: "net/http/cgi fork+exec python3 hello.py", url: py.url, want: "hello from Python"},
	}
	for _, t := range targets {
		if err := check(t.url, t.want); err != nil {
			return false, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	p := o.wrk
	p.conns = min(p.conns, 8)
	fmt.Fprintf(w, "Snapshots (issue 12): wrk -t%d -c%d -d%s --latency, %d rounds, medians (load average %s)\n",
		p.threads, p.conns, p.duration, o.rounds, loadAverage())
	results := make([][]load, len(targets))
	for range o.rounds {
		for i, t := range targets {
			l, err := runWrk(ctx, p, t.url)
			if err != nil {
				return false, err
			}
			results[i] = append(results[i], l)
		}
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "target\treq/s\tCPU/req\tp50\tp99\terrors\t")
	for i, t := range targets {
		bad := 0
		for _, l := range results[i] {
			bad += l.bad
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t\n", t.name, median(results[i], func(l load) float64 { return l.reqs }),
			dur(median(results[i], func(l load) float64 { return float64(l.cpuPerReq()) })),
			dur(median(results[i], func(l load) float64 { return float64(l.p50) })),
			dur(median(results[i], func(l load) float64 { return float64(l.p99) })), bad)
	}
	tw.Flush()
	fmt.Fprintln(w)
	ratio := func(a, b int) float64 {
		var rs []float64
		for r := range o.rounds {
			rs = append(rs, results[a][r].reqs/results[b][r].reqs)
		}
		return medianOf(rs)
	}
	goals := []goal{
		{"S1. Ruby snapshot / snapshot = false (req/s)", ratio(0, 1), ">= 20", ratio(0, 1) >= 20},
		{"S2. Ruby snapshot / native python3 CGI hello (req/s)", ratio(0, 2), "> 1", ratio(0, 2) > 1},
	}
	ok := printGoals(w, goals)
	rssOK, err := rubyRSS(ctx, repo, o, w)
	return ok && rssOK, err
}

// rubyRSS holds 64 Ruby instances in flight (a script that requires cgi,
// prints 1 KB and sleeps), from the snapshot, and reports the process's
// RSS against their linear memory.
func rubyRSS(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	const n = 64
	dir := filepath.Join(o.cacheDir, "ruby-rss")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	src := "require 'cgi'\nc = CGI.new\nprint c.header('text/plain')\nputs 'x' * 1024\n$stdout.flush\nsleep(ENV['QUERY_STRING'].to_i / 1000.0)\nputs 'slept'\n"
	if err := os.WriteFile(filepath.Join(dir, "sleep.rb"), []byte(src), 0o644); err != nil {
		return false, err
	}
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	defer e.Close(ctx)
	site, err := buildSite(ctx, e, b, repo, rubySite(repo, dir))
	if err != nil {
		return false, err
	}
	srv, err := serve(site.Handler)
	if err != nil {
		return false, err
	}
	defer srv.close()
	if err := check(srv.url+"/s/sleep.rb?1", "slept"); err != nil {
		return false, err
	}
	runtime.GC()
	base := rss()
	hold := 10 * time.Second
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	url := srv.url + "/s/sleep.rb?" + strconv.Itoa(int(hold.Milliseconds()))
	peakInst, peakLinear, peakRSS, failures := holdInFlight(e, client, url, n, hold+60*time.Second)
	mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "Ruby RSS: %d instances from the snapshot held in flight (%s each); failures %d\n", n, hold, failures)
	fmt.Fprintf(w, "  peak in flight %d; their linear memory %.0f MiB (%.1f MiB each); process RSS %.0f MiB (%.0f MiB before), %.1f MiB per instance\n\n",
		peakInst, mb(peakLinear), mb(peakLinear)/float64(max(peakInst, 1)), mb(peakRSS), mb(base),
		(mb(peakRSS)-mb(base))/float64(max(peakInst, 1)))
	return peakInst == n && failures == 0, nil
}
