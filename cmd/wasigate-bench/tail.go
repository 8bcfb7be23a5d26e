package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/wasigate/wasigate/host"
)

// What a wrk p99 is made of (goal 4): for each run of a wasigate target the
// bench also records, inside the server, how long the handler took from
// the access log's start to its end and how long requests waited for a
// concurrency slot, and reads from the Go runtime how long goroutines sat
// runnable before they ran (scheduler latency: too few cores for the ready
// work) and how long the garbage collector stopped the world. What wrk sees
// beyond the handler's time is spent outside it: in the kernel, in wrk,
// and in net/http reading the request and writing the response.

// histogram is a latency histogram with buckets 2^(1/8) apart from 1 µs,
// safe for concurrent use.
type histogram struct {
	counts [200]atomic.Int64
}

func bucketOf(d time.Duration) int {
	if d < time.Microsecond {
		return 0
	}
	i := int(8*math.Log2(float64(d)/float64(time.Microsecond))) + 1
	return min(i, len(histogram{}.counts)-1)
}

// upper is the upper bound of bucket i.
func upper(i int) time.Duration {
	if i == 0 {
		return time.Microsecond
	}
	return time.Duration(float64(time.Microsecond) * math.Exp2(float64(i)/8))
}

func (h *histogram) add(d time.Duration) { h.counts[bucketOf(d)].Add(1) }

func (h *histogram) reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var n int64
	for i := range h.counts {
		n += h.counts[i].Load()
		if n >= want {
			return upper(i)
		}
	}
	return upper(len(h.counts) - 1)
}

// serverTimes collects the handler's duration and the queue wait of every
// request the site served; observe is the site's Observe hook.
type serverTimes struct {
	handler, queue histogram
}

func (s *serverTimes) observe(_ *http.Request, info *host.Info, _ int, d time.Duration) {
	s.handler.add(d)
	s.queue.add(info.QueueWait)
}

func (s *serverTimes) reset() {
	s.handler.reset()
	s.queue.reset()
}

// runtimeSample is what the Go runtime's metrics say about scheduling and
// the garbage collector, read before and after a run.
type runtimeSample struct {
	sched, gcPause *metrics.Float64Histogram
	gcCPU, allCPU  float64
}

var runtimeMetrics = []string{
	"/sched/latencies:seconds",
	"/sched/pauses/total/gc:seconds",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
}

func readRuntime() runtimeSample {
	s := make([]metrics.Sample, len(runtimeMetrics))
	for i, name := range runtimeMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	return runtimeSample{
		sched:   s[0].Value.Float64Histogram(),
		gcPause: s[1].Value.Float64Histogram(),
		gcCPU:   s[2].Value.Float64(),
		allCPU:  s[3].Value.Float64(),
	}
}

// tail is the breakdown of one run.
type tail struct {
	handlerP99, queueP99 time.Duration // inside the server, per request
	schedP99             time.Duration // goroutines runnable, not running
	gcPauseMax           time.Duration // longest stop-the-world of the GC
	gcCPU                float64       // share of the process's CPU time spent in the GC
}

func (s *serverTimes) tail(before, after runtimeSample) tail {
	t := tail{
		handlerP99: s.handler.quantile(0.99),
		queueP99:   s.queue.quantile(0.99),
		schedP99:   deltaQuantile(before.sched, after.sched, 0.99),
		gcPauseMax: deltaQuantile(before.gcPause, after.gcPause, 1),
	}
	if cpu := after.allCPU - before.allCPU; cpu > 0 {
		t.gcCPU = (after.gcCPU - before.gcCPU) / cpu
	}
	return t
}

// deltaQuantile is quantile q of the samples added to a runtime histogram
// between two reads, as the upper bound of its bucket.
func deltaQuantile(before, after *metrics.Float64Histogram, q float64) time.Duration {
	var total uint64
	for i := range after.Counts {
		total += after.Counts[i] - before.Counts[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var n uint64
	for i := range after.Counts {
		n += after.Counts[i] - before.Counts[i]
		if n >= want {
			b := after.Buckets[i+1]
			if math.IsInf(b, 1) {
				b = after.Buckets[i]
			}
			return time.Duration(b * float64(time.Second))
		}
	}
	return 0
}

// printTails prints, for the wasigate targets, what their p99 is made of
// (medians over the rounds).
func printTails(w io.Writer, targets []target, results [][]load, tails [][]tail) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Where the p99 comes from (medians of the rounds): wrk's p99; inside the server, the handler's p99 and")
	fmt.Fprintln(w, "the concurrency queue's; the Go scheduler's p99 wait of a runnable goroutine; the longest GC stop; GC share of CPU")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "target\twrk p99\thandler p99\tqueue p99\tsched p99\tGC stop max\tGC CPU")
	for i, t := range targets {
		if !strings.HasPrefix(t.name, "wasigate") {
			continue
		}
		ts := tails[i]
		d := func(f func(tail) time.Duration) string {
			return dur(median(ts, func(t tail) float64 { return float64(f(t)) }))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\n", t.name,
			dur(median(results[i], func(l load) float64 { return float64(l.p99) })),
			d(func(t tail) time.Duration { return t.handlerP99 }),
			d(func(t tail) time.Duration { return t.queueP99 }),
			d(func(t tail) time.Duration { return t.schedP99 }),
			d(func(t tail) time.Duration { return t.gcPauseMax }),
			100*median(ts, func(t tail) float64 { return t.gcCPU }))
	}
	tw.Flush()
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, read
// from /proc/loadavg when there is one: the figures mean little without
// knowing what else ran.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
