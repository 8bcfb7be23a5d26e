package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/wasigate/wasigate/wasi"
)

// The interpreters' tables (-python, -snapshot): a few connections, since
// their requests take milliseconds, keep both cores busy without a queue
// longer than the run.

// nativePython3 is Debian's python3 (3.11, the version its frameworks are
// packaged for), the baseline of the interpreters' tables.
func nativePython3() (string, error) {
	native, err := exec.LookPath("python3")
	if err != nil {
		return "", err
	}
	if p, err := filepath.EvalSymlinks("/usr/bin/python3"); err == nil {
		native = p
	}
	return native, nil
}

// serveSite builds config's site on an engine of its own and serves it on
// loopback; done closes both.
func serveSite(ctx context.Context, repo string, o options, config string) (*wasi.Engine, *server, func(), error) {
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return nil, nil, nil, err
	}
	site, err := buildSite(ctx, e, b, repo, config)
	if err != nil {
		e.Close(ctx)
		return nil, nil, nil, err
	}
	srv, err := serve(site.Handler)
	if err != nil {
		e.Close(ctx)
		return nil, nil, nil, err
	}
	return e, srv, func() { srv.close(); e.Close(ctx) }, nil
}

// loadTargets checks every target, loads each in turn for o.rounds rounds
// and prints the table of medians under title.
func loadTargets(ctx context.Context, o options, w io.Writer, title string, targets []target) ([][]load, error) {
	for _, t := range targets {
		if err := check(t.url, t.want); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	p := o.wrk
	p.conns = min(p.conns, 8)
	fmt.Fprintf(w, "%s: wrk -t%d -c%d -d%s --latency, %d rounds, medians (load average %s)\n",
		title, p.threads, p.conns, p.duration, o.rounds, loadAverage())
	results := make([][]load, len(targets))
	prog := newProgress(o.progress, title, o.rounds*len(targets))
	for r := range o.rounds {
		for i, t := range targets {
			l, err := runWrkOn(ctx, p, t)
			if err != nil {
				return nil, err
			}
			results[i] = append(results[i], l)
			prog.step(t.name, r+1, l)
		}
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "target\treq/s\tCPU/req\tp50\tp99\terrors\trun\t")
	for i, t := range targets {
		bad := 0
		for _, l := range results[i] {
			bad += l.bad
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t\n", t.name, median(results[i], func(l load) float64 { return l.reqs }),
			dur(median(results[i], func(l load) float64 { return float64(l.cpuPerReq()) })),
			dur(median(results[i], func(l load) float64 { return float64(l.p50) })),
			dur(median(results[i], func(l load) float64 { return float64(l.p99) })), bad, runDuration(p, t))
	}
	tw.Flush()
	fmt.Fprintln(w)
	return results, nil
}

// runWrkOn is runWrk on t, with the CPU time of t's own server when it
// runs outside this process.
func runWrkOn(ctx context.Context, p wrkParams, t target) (load, error) {
	var before time.Duration
	if t.cpu != nil {
		before = t.cpu()
	}
	p.duration = runDuration(p, t)
	l, err := runWrk(ctx, p, t.url)
	if t.cpu != nil {
		l.cpu = t.cpu() - before
	}
	return l, err
}

// maxRun bounds how long runDuration makes one run.
const maxRun = 30 * time.Second

// runDuration is how long to load t: the table's duration, or long
// enough for about three answers a connection when its requests queue for
// the machine's cores (its probe times connections per core), up to
// maxRun. A Django CGI request of seconds would otherwise answer nothing
// in a 5-second run at 8 connections.
func runDuration(p wrkParams, t target) time.Duration {
	need := 3 * t.probe * time.Duration(max(1, p.conns/runtime.NumCPU()))
	return max(p.duration, min(maxRun, need.Round(time.Second)+time.Second))
}

// roundRatio is the median over rounds of target a's req/s over b's, each
// pair from the same round.
func roundRatio(results [][]load, a, b int) float64 {
	var rs []float64
	for r := range results[a] {
		if results[b][r].reqs > 0 { // a run too short for one answer says nothing
			rs = append(rs, results[a][r].reqs/results[b][r].reqs)
		}
	}
	if len(rs) == 0 {
		return math.NaN()
	}
	return medianOf(rs)
}

// interpreterRSS serves dir/name (src, a script that sleeps for the
// query's milliseconds and answers "slept") with the site config makes,
// holds 64 requests of it in flight and reports the process's RSS
// against their linear memory.
func interpreterRSS(ctx context.Context, repo string, o options, w io.Writer, label string, config func(dir string) string, name, src string) (bool, error) {
	const n = 64
	dir := filepath.Join(o.cacheDir, label+"-rss")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		return false, err
	}
	e, srv, done, err := serveSite(ctx, repo, o, config(dir))
	if err != nil {
		return false, err
	}
	defer done()
	if err := check(srv.url+"/s/"+name+"?1", "slept"); err != nil {
		return false, err
	}
	runtime.GC()
	base := rss()
	hold := 10 * time.Second
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	url := srv.url + "/s/" + name + "?" + strconv.Itoa(int(hold.Milliseconds()))
	peakInst, peakLinear, peakRSS, failures := holdInFlight(e, client, url, n, hold+60*time.Second)
	mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "%s RSS: %d instances from the snapshot held in flight (%s each); failures %d\n", label, n, hold, failures)
	fmt.Fprintf(w, "  peak in flight %d; their linear memory %.0f MiB (%.1f MiB each); process RSS %.0f MiB (%.0f MiB before), %.1f MiB per instance\n\n",
		peakInst, mb(peakLinear), mb(peakLinear)/float64(max(peakInst, 1)), mb(peakRSS), mb(base),
		(mb(peakRSS)-mb(base))/float64(max(peakInst, 1)))
	return peakInst == n && failures == 0, nil
}
