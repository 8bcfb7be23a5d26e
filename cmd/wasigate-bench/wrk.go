package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errNoWrk is returned when wrk is not installed.
var errNoWrk = errors.New("wrk not found on PATH (Debian: apt-get install wrk)")

// load is what one wrk run measured.
type load struct {
	reqs     float64       // requests per second
	p50, p99 time.Duration // latency percentiles
	bad      int           // non-2xx/3xx responses plus socket errors
	requests int           // requests completed

	// cpu is the CPU time the server side used during the run: this
	// process and the children it waited for (CGI programs), without wrk.
	// Per request it is a figure that other load on the machine moves
	// much less than req/s.
	cpu time.Duration
	gcs uint32 // garbage collections in this process during the run
}

// cpuPerReq is the server's CPU time per request.
func (l load) cpuPerReq() time.Duration {
	if l.requests == 0 {
		return 0
	}
	return l.cpu / time.Duration(l.requests)
}

// wrkParams are the load generator's settings.
type wrkParams struct {
	threads, conns int
	duration       time.Duration
	script         string // a Lua script file, or ""
}

// runWrk loads url with wrk and parses its report.
func runWrk(ctx context.Context, p wrkParams, url string) (load, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return load{}, errNoWrk
	}
	args := []string{"-t", strconv.Itoa(p.threads), "-c", strconv.Itoa(p.conns),
		"-d", fmt.Sprintf("%ds", max(1, int(p.duration.Round(time.Second).Seconds()))), "--latency", "--timeout", "10s"}
	if p.script != "" {
		args = append(args, "-s", p.script)
	}
	args = append(args, url)
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC
	self, children := cpuTime(syscall.RUSAGE_SELF), cpuTime(syscall.RUSAGE_CHILDREN)
	if err := cmd.Run(); err != nil {
		return load{}, fmt.Errorf("wrk %s: %w: %s", url, err, strings.TrimSpace(stderr.String()+out.String()))
	}
	self, children = cpuTime(syscall.RUSAGE_SELF)-self, cpuTime(syscall.RUSAGE_CHILDREN)-children
	runtime.ReadMemStats(&ms)
	l, err := parseWrk(out.String())
	l.cpu = self + children - cmd.ProcessState.UserTime() - cmd.ProcessState.SystemTime()
	l.gcs = ms.NumGC - gcs
	return l, err
}

// cpuTime is the user and system CPU time of who (RUSAGE_SELF or
// RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parseWrk reads the parts of wrk's report that the table needs.
func parseWrk(report string) (load, error) {
	var l load
	var haveReqs bool
	sc := bufio.NewScanner(strings.NewReader(report))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return l, fmt.Errorf("wrk report: %q: %w", sc.Text(), err)
			}
			l.reqs, haveReqs = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return l, fmt.Errorf("wrk report: %q: %w", sc.Text(), err)
			}
			if f[0] == "50%" {
				l.p50 = d
			} else {
				l.p99 = d
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			l.requests, _ = strconv.Atoi(f[0])
		case len(f) == 5 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[4])
			l.bad += n
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				l.bad += n
			}
		}
	}
	if !haveReqs {
		return l, fmt.Errorf("wrk report without Requests/sec:\n%s", report)
	}
	return l, nil
}

// parseWrkDuration reads wrk's durations: 812.00us, 1.23ms, 2.01s, 1.00m.
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("unknown duration %q", s)
}
