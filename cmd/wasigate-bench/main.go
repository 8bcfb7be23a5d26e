// Command wasigate-bench measures wasigate against its performance goals,
// side by side in one process on this machine: the wasigate site
// (router.Build and an http.Server on loopback), a native in-process Go
// handler, and Go's net/http/cgi fork+exec'ing the same programs compiled
// natively (gcc, go build). wrk loads each in turn, several rounds, and the
// table gives medians and the goals' ratios (taken round by round, so both
// sides of a ratio ran under the same load from the rest of the machine).
//
//	go run ./cmd/wasigate-bench                  # throughput table, ~1-2 minutes
//	go run ./cmd/wasigate-bench -restart         # 50 Go guests, and Python with Django preloaded, ready after a restart
//	go run ./cmd/wasigate-bench -routes          # 10,000 routes against 1
//	go run ./cmd/wasigate-bench -rss             # RSS with 1,000 Go guests in flight
//	go run ./cmd/wasigate-bench -python          # Python samples against native python3 CGI
//	go run ./cmd/wasigate-bench -no-throughput -wsgi  # WSGI apps from their snapshots against the same apps as CGI
//	go run ./cmd/wasigate-bench -no-throughput -reuse  # warm instances on and off against the baselines
//	go run ./cmd/wasigate-bench -snapshot        # Ruby from the snapshot against booting it, RSS
//	go run ./cmd/wasigate-bench -no-throughput -deadline  # what stopping guests on time costs
//	go run ./cmd/wasigate-bench -all
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/tune"
)

func main() { os.Exit(doMain(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	wrk         wrkParams
	rounds      int
	cacheDir    string
	throughput  bool
	restart     bool
	routes      bool
	rss         bool
	python      bool
	wsgi        bool
	snapshot    bool
	deadline    bool
	rssN        int
	gogc        int
	only        string
	logFile     string
	concurrency int
	gc          string // the collector's settings, for the report
	reuse       bool
	// progress gets a line per wrk run of the long tables, so that a
	// run of many minutes shows where it is.
	progress io.Writer
}

func doMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wasigate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var all, noThroughput bool
	var child string
	fs.DurationVar(&o.wrk.duration, "d", 3*time.Second, "wrk `duration` of each run")
	fs.IntVar(&o.wrk.conns, "c", 64, "wrk connections")
	fs.IntVar(&o.wrk.threads, "t", 2, "wrk threads")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each loads every target once")
	fs.StringVar(&o.cacheDir, "cache", filepath.Join(os.TempDir(), "wasigate-bench"), "build and compilation cache `folder`, kept between runs")
	fs.BoolVar(&noThroughput, "no-throughput", false, "skip the throughput table")
	fs.BoolVar(&o.restart, "restart", false, "time a restart with a warm cache: 50 distinct Go guests ready, then one Python interpreter with Django preloaded")
	fs.BoolVar(&o.routes, "routes", false, "compare 10,000 routes with 1")
	fs.BoolVar(&o.rss, "rss", false, "RSS with -rss-n Go guests in flight")
	fs.IntVar(&o.rssN, "rss-n", 1000, "in-flight guests for -rss")
	fs.BoolVar(&o.python, "python", false, "the Python samples against fork+exec of native python3, and RSS of 64 Python instances (needs bash samples/python/install.sh)")
	fs.BoolVar(&o.wsgi, "wsgi", false, "the sample WSGI applications as .wsgi applications against the same apps as CGI scripts and under native python3 CGI, at 1 and 8 connections (needs bash samples/python/install.sh)")
	fs.BoolVar(&o.reuse, "reuse", false, "warm instances on and off (reuse = false) for the C, Go, Go app, Python, WSGI and Flask samples against the in-process Go handler, fork+exec of the native programs and mod_wsgi where Apache is installed, at 1 and 8 connections")
	fs.BoolVar(&o.snapshot, "snapshot", false, "Ruby from the snapshot against booting it per request and native python3 CGI, and RSS of 64 Ruby instances (needs npm install --prefix samples/ruby)")
	fs.BoolVar(&o.deadline, "deadline", false, "what stopping a guest at its deadline costs: no check, wazero's, the instrumented module's")
	fs.DurationVar(&niceAfter, "nice-after", 0, "CPU time after which a guest's thread is lowered (0: the default, 20ms; negative: never, no priority guard)")
	fs.IntVar(&o.gogc, "gogc", 0, "debug.SetGCPercent for this process (0: as wasigate serve, tune.GC)")
	fs.BoolVar(&all, "all", false, "everything")
	fs.StringVar(&o.only, "only", "", "load only the targets whose names contain this `text`, or one of its |-separated parts (the goals then need all of them)")
	fs.StringVar(&o.logFile, "log", "", "append the access log of the throughput site to `file` (JSON, as wasigate serve writes it); default: formatted into io.Discard")
	fs.IntVar(&o.concurrency, "concurrency", 0, "the C route's concurrency limit (0: the default, router.DefaultLimits)")
	var cpuprofile string
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of this process to `file`")
	fs.StringVar(&child, "restart-child", "", "internal: the restarted server of -restart, on this config")
	var pyChild string
	fs.StringVar(&pyChild, "restart-python-child", "", "internal: the restarted Python server of -restart, on this config")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.throughput = !noThroughput
	o.progress = stderr
	if all {
		o.throughput, o.restart, o.routes, o.rss, o.deadline = true, true, true, true, true
		o.python, o.snapshot, o.wsgi, o.reuse = true, true, true, true
	}
	gc := tune.GC(os.Getenv, 0)
	if o.gogc != 0 {
		debug.SetGCPercent(o.gogc)
		gc = tune.GCSettings{Percent: o.gogc, From: "-gogc", MemoryLimit: gc.MemoryLimit}
	}
	o.gc = gc.String()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "wasigate-bench:", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	if child != "" {
		if err := restartChild(ctx, child, o.cacheDir, stdout); err != nil {
			fmt.Fprintln(stderr, "wasigate-bench:", err)
			return 1
		}
		return 0
	}
	if pyChild != "" {
		if err := restartPythonChild(ctx, pyChild, o.cacheDir, stdout); err != nil {
			fmt.Fprintln(stderr, "wasigate-bench:", err)
			return 1
		}
		return 0
	}
	repo, err := findRepo()
	if err != nil {
		fmt.Fprintln(stderr, "wasigate-bench:", err)
		return 1
	}
	var failed bool
	steps := []struct {
		on  bool
		run func(context.Context, string, options, io.Writer) (bool, error)
	}{
		{o.throughput, throughput},
		{o.routes, manyRoutes},
		{o.restart, restart},
		{o.rss, inFlightRSS},
		{o.python, pythonBench},
		{o.wsgi, wsgiBench},
		{o.reuse, reuseBench},
		{o.snapshot, snapshotBench},
		{o.deadline, deadlineBench},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		ok, err := s.run(ctx, repo, o, stdout)
		if err != nil {
			fmt.Fprintln(stderr, "wasigate-bench:", err)
			return 1
		}
		failed = failed || !ok
	}
	if failed {
		return 3
	}
	return 0
}

// target is one server under load.
type target struct {
	name string
	url  string
	want string // in the body of a good answer
	// cpu, when set, is the server's CPU time so far, read before and
	// after each run: for a server outside this process (Apache).
	cpu func() time.Duration
	// probe is how long one request took alone (warmUp): a target whose
	// answers take seconds gets runs long enough for a few of them.
	probe time.Duration
}

// throughput loads each target for several rounds and prints the table and
// the ratio goals.
func throughput(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	tmp, err := os.MkdirTemp("", "wasigate-bench-native")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	cBin, goBin, appBin, err := buildNative(ctx, repo, tmp)
	if err != nil {
		return false, err
	}
	e, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return false, err
	}
	defer e.Close(ctx)
	log, closeLog, err := accessLog(o.logFile)
	if err != nil {
		return false, err
	}
	defer closeLog()
	cLimit := ""
	if o.concurrency > 0 {
		cLimit = fmt.Sprintf("concurrency = %d\n", o.concurrency)
	}
	times := &serverTimes{}
	site, err := buildSiteWith(ctx, repo, `
[[route]]
path = "/c"
module = "samples/c/hello.wasm"
`+cLimit+`
[[route]]
path = "/go"
module = "samples/scripts/hello-go.go"

[[route]]
path = "/gooff"
module = "samples/scripts/hello-go.go"
snapshot = false

[[route]]
path = "/app/*"
module = "samples/scripts/app"
`, router.Options{Loader: &cgi.Loader{Engine: e, Builder: b}, Log: log, Observe: times.observe})
	if err != nil {
		return false, err
	}
	var targets []target
	add := func(name, path, want string, srv *server) {
		targets = append(targets, target{name: name, url: srv.url + path, want: want})
	}
	for _, s := range []struct {
		name, path, want string
		h                any
	}{
		{"wasigate C (samples/c/hello.wasm)", "/c", "Hello from C", site.Handler},
		{"native Go handler, same bytes", "/", "Hello from C", nil},
		{"net/http/cgi fork+exec C (gcc -O2)", "/", "Hello from C", cgiHandler(cBin)},
		{"wasigate Go (samples/scripts/hello-go.go)", "/go", "Hello from Go", site.Handler},
		{"net/http/cgi fork+exec Go (go build)", "/", "Hello from Go", cgiHandler(goBin)},
		// Issue 12: the Go rows above start from a snapshot; these
		// boot the runtime per request, and serve the chi app.
		{"wasigate Go, snapshot = false", "/gooff", "Hello from Go", site.Handler},
		{"wasigate Go app (samples/scripts/app)", "/app/hello/x", "Hello, x!", site.Handler},
		{"net/http/cgi fork+exec Go app (go build)", "/app/hello/x", "Hello, x!", cgiHandlerAt(appBin, "/app")},
	} {
		h := s.h
		if h == nil {
			h = httpHandlerFunc(nativeHello)
		}
		srv, err := serve(asHandler(h))
		if err != nil {
			return false, err
		}
		defer srv.close()
		add(s.name, s.path, s.want, srv)
	}
	for _, t := range targets {
		if err := check(t.url, t.want); err != nil {
			return false, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if o.only != "" {
		targets = slices.DeleteFunc(targets, func(t target) bool {
			return !slices.ContainsFunc(strings.Split(o.only, "|"), func(part string) bool { return strings.Contains(t.name, part) })
		})
	}
	fmt.Fprintf(w, "Throughput: wrk -t%d -c%d -d%s --latency, %d rounds, medians (GOMAXPROCS=%d, %s, load average %s)\n",
		o.wrk.threads, o.wrk.conns, o.wrk.duration, o.rounds, gomaxprocs(), o.gc, loadAverage())
	results := make([][]load, len(targets)) // [target][round]
	tails := make([][]tail, len(targets))
	warm := o.wrk
	warm.duration = time.Second
	for _, t := range targets {
		if _, err := runWrk(ctx, warm, t.url); err != nil {
			return false, err
		}
	}
	for range o.rounds {
		for i, t := range targets {
			times.reset()
			before := readRuntime()
			l, err := runWrk(ctx, o.wrk, t.url)
			if err != nil {
				return false, err
			}
			results[i] = append(results[i], l)
			tails[i] = append(tails[i], times.tail(before, readRuntime()))
		}
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "target\treq/s\tp50\tp99\tCPU/req\tGCs/10k\terrors\treq/s of each round")
	for i, t := range targets {
		rs := results[i]
		var each []string
		bad := 0
		for _, l := range rs {
			each = append(each, strconv.Itoa(int(l.reqs)))
			bad += l.bad
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.1f\t%d\t%v\n", t.name,
			median(rs, func(l load) float64 { return l.reqs }),
			dur(median(rs, func(l load) float64 { return float64(l.p50) })),
			dur(median(rs, func(l load) float64 { return float64(l.p99) })),
			time.Duration(median(rs, func(l load) float64 { return float64(l.cpuPerReq()) })).Round(100*time.Nanosecond),
			median(rs, func(l load) float64 { return 1e4 * float64(l.gcs) / float64(max(1, l.requests)) }),
			bad, each)
	}
	tw.Flush()
	printTails(w, targets, results, tails)

	if len(targets) != 8 {
		return true, nil
	}
	ratio := func(a, b int) float64 {
		var rs []float64
		for r := range o.rounds {
			rs = append(rs, results[a][r].reqs/results[b][r].reqs)
		}
		return medianOf(rs)
	}
	p99 := time.Duration(median(results[0], func(l load) float64 { return float64(l.p99) }))
	goals := []goal{
		{"1. wasigate C / native Go handler", ratio(0, 1), ">= 0.40", ratio(0, 1) >= 0.40},
		{"2. wasigate C / CGI fork+exec C", ratio(0, 2), ">= 20", ratio(0, 2) >= 20},
		{"3. wasigate Go / CGI fork+exec Go", ratio(3, 4), ">= 3", ratio(3, 4) >= 3},
		{fmt.Sprintf("4. wasigate C p99 at %d connections (ms)", o.wrk.conns), p99.Seconds() * 1000, "< 5", p99 < 5*time.Millisecond},
		{"3b. wasigate Go app / CGI fork+exec Go app", ratio(6, 7), ">= 3", ratio(6, 7) >= 3},
		{"3c. wasigate Go from a snapshot / booting per request", ratio(3, 5), "> 1", ratio(3, 5) > 1},
	}
	fmt.Fprintln(w)
	return printGoals(w, goals), nil
}

type goal struct {
	name  string
	value float64
	want  string
	ok    bool
}

func printGoals(w io.Writer, goals []goal) bool {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "goal\tmeasured\twant\t")
	all := true
	for _, g := range goals {
		verdict := "PASS"
		switch {
		case math.IsNaN(g.value):
			// A baseline that answered nothing in every round: no
			// ratio, which is neither a pass nor a fail.
			fmt.Fprintf(tw, "%s\t-\t%s\t%s\n", g.name, g.want, "NO DATA")
			continue
		case !g.ok:
			verdict, all = "FAIL", false
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\n", g.name, g.value, g.want, verdict)
	}
	tw.Flush()
	fmt.Fprintln(w)
	return all
}

func median[T any](xs []T, f func(T) float64) float64 {
	var v []float64
	for _, x := range xs {
		v = append(v, f(x))
	}
	return medianOf(v)
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func dur(ns float64) string {
	return time.Duration(ns).Round(10 * time.Microsecond).String()
}
