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

// pythonDist is what `bash samples/python/install.sh` builds.
func pythonDist(repo string) string { return filepath.Join(repo, "samples", "python", "dist") }

// pythonSite is the sample site's [[interpreter]] for .py with a scripts
// route at /s/* on dir, and the same at /n/* with snapshot = false (the
// interpreter starts in every request).
func pythonSite(repo, dir string) string {
	d := pythonDist(repo)
	return fmt.Sprintf(`
[[interpreter]]
ext = ".py"
module = %q
volumes = { "/usr/local/lib/python3.11" = %q, "/usr/local/lib/python3.11/dist-packages" = %q }
env = { PYTHONDONTWRITEBYTECODE = "1" }
preload = ["cgi", "wsgiref.handlers", "web", "flask"]

[[route]]
path = "/s/*"
scripts = %[4]q
concurrency = 128
queue_timeout = "60s"
timeout = "120s"

[[route]]
path = "/n/*"
scripts = %[4]q
snapshot = false
concurrency = 128
queue_timeout = "60s"
timeout = "120s"
`, filepath.Join(d, "python.wasm"), filepath.Join(d, "lib", "python3.11"), filepath.Join(d, "site-packages"), dir)
}

// pythonBench is -python (issue 14): the Python samples in wasigate
// against fork+exec of the machine's native python3 running the same files
// through net/http/cgi, then the RSS of 64 Python instances in flight.
func pythonBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	if _, err := os.Stat(filepath.Join(pythonDist(repo), "python.wasm")); err != nil {
		return false, fmt.Errorf("python not installed (bash samples/python/install.sh): %w", err)
	}
	native, err := exec.LookPath("python3")
	if err != nil {
		return false, err
	}
	if p, err := filepath.EvalSymlinks("/usr/bin/python3"); err == nil {
		native = p // Debian's 3.11, the version the frameworks are packaged for
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	defer e.Close(ctx)
	site, err := buildSite(ctx, e, b, repo, pythonSite(repo, scripts))
	if err != nil {
		return false, err
	}
	wg, err := serve(site.Handler)
	if err != nil {
		return false, err
	}
	defer wg.close()
	nativeCGI := func(script string) (*server, error) {
		return serve(&cgi.Handler{Path: native, Args: []string{filepath.Join(scripts, script)}, Root: "/",
			Env: []string{"PYTHONPATH=" + filepath.Join(pythonDist(repo), "site-packages"), "PYTHONDONTWRITEBYTECODE=1"}})
	}
	var targets []target
	for _, s := range []struct{ script, path, want string }{
		{"hello.py", "", "hello from Python"},
		{"wsgi.py", "/x", "from WSGI"},
		{"webpy_app.py", "/x", "from web.py"},
		{"flask_app.py", "/x", "from Flask"},
	} {
		n, err := nativeCGI(s.script)
		if err != nil {
			return false, err
		}
		defer n.close()
		targets = append(targets,
			target{name: "wasigate " + s.script, url: wg.url + "/s/" + s.script + s.path, want: s.want},
			target{name: "  snapshot = false", url: wg.url + "/n/" + s.script + s.path, want: s.want},
			target{name: "  net/http/cgi fork+exec python3", url: n.url + s.path, want: s.want})
	}
	for _, t := range targets {
		if err := check(t.url, t.want); err != nil {
			return false, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	// Python requests take tens of milliseconds: a few connections keep
	// both cores busy without a queue longer than the run.
	p := o.wrk
	p.conns = min(p.conns, 8)
	fmt.Fprintf(w, "Python (issue 14): wrk -t%d -c%d -d%s --latency, %d rounds, medians (load average %s)\n",
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
	// ratio is a script's req/s from the snapshot against native CGI's,
	// round by round.
	ratio := func(script int) float64 {
		var rs []float64
		for r := range o.rounds {
			rs = append(rs, results[3*script][r].reqs/results[3*script+2][r].reqs)
		}
		return medianOf(rs)
	}
	goals := []goal{
		{"P1. hello.py / native CGI (first step)", ratio(0), ">= 2", ratio(0) >= 2},
		{"P1'. hello.py / native CGI (with snapshots)", ratio(0), ">= 5", ratio(0) >= 5},
		{"P2. WSGI app / native CGI (with snapshots)", ratio(1), ">= 5", ratio(1) >= 5},
		{"P3. web.py app / native CGI (with snapshots)", ratio(2), ">= 10", ratio(2) >= 10},
		{"P4. Flask app / native CGI", ratio(3), "(reported)", true},
	}
	ok := printGoals(w, goals)
	rssOK, err := pythonRSS(ctx, repo, o, w)
	return ok && rssOK, err
}

// pythonRSS holds 64 Python instances in flight (a script that sleeps)
// and reports the process's RSS against their linear memory.
func pythonRSS(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	const n = 64
	dir := filepath.Join(o.cacheDir, "python-rss")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	src := "import os, time\ntime.sleep(int(os.environ['QUERY_STRING']) / 1000)\nprint('Content-Type: text/plain\\n\\nslept')\n"
	if err := os.WriteFile(filepath.Join(dir, "sleep.py"), []byte(src), 0o644); err != nil {
		return false, err
	}
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	defer e.Close(ctx)
	site, err := buildSite(ctx, e, b, repo, pythonSite(repo, dir))
	if err != nil {
		return false, err
	}
	srv, err := serve(site.Handler)
	if err != nil {
		return false, err
	}
	defer srv.close()
	if err := check(srv.url+"/s/sleep.py?1", "slept"); err != nil {
		return false, err
	}
	runtime.GC()
	base := rss()
	hold := 10 * time.Second
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	url := srv.url + "/s/sleep.py?" + strconv.Itoa(int(hold.Milliseconds()))
	peakInst, peakLinear, peakRSS, failures := holdInFlight(e, client, url, n, hold+30*time.Second)
	mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "Python RSS: %d instances held in flight (%s each); failures %d\n", n, hold, failures)
	fmt.Fprintf(w, "  peak in flight %d; their linear memory %.0f MiB (%.1f MiB each); process RSS %.0f MiB (%.0f MiB before), %.1f MiB per instance\n\n",
		peakInst, mb(peakLinear), mb(peakLinear)/float64(max(peakInst, 1)), mb(peakRSS), mb(base),
		(mb(peakRSS)-mb(base))/float64(max(peakInst, 1)))
	return peakInst == n && failures == 0, nil
}
