package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Slow and absent clients
// (cmd/wasigate/DECISIONS.md#time-blocked-on-the-client-counts): the
// route's timeout bounds the whole run, I/O blocked on the client included;
// read_timeout and write_timeout bound the body and each write. Every test
// here failed on main before the fix: a stalled client kept its slot (503
// for everyone else) or the guest ran until the client gave up.

// slowConfig serves the guests of these tests; %[1]s is testdata/guests.
// Timeouts are short to keep the tests quick, margins generous (the test
// machine is shared).
const slowConfig = `
[server]
read_timeout = "%[2]s"
write_timeout = "%[3]s"

[[route]]
path = "/big"
module = "%[1]s/big.wasm"
timeout = "%[4]s"
max_output = "1GiB"
concurrency = 1
queue_timeout = "100ms"

[[route]]
path = "/readall"
module = "%[1]s/readall.wasm"
timeout = "%[4]s"
concurrency = 1
queue_timeout = "100ms"

[[route]]
path = "/slowbody"
module = "%[1]s/slowbody.wasm"
timeout = "10s"
`

// slowSite serves slowConfig with these server timeouts and route timeout.
func slowSite(t *testing.T, readTimeout, writeTimeout, timeout string) (string, *logBuffer) {
	t.Helper()
	config := fmt.Sprintf(slowConfig, guest(""), readTimeout, writeTimeout, timeout)
	srv, logs := serveConfigLogs(t, "", config)
	return srv.URL, logs
}

// resources are what a stopped run must give back.
type resources struct{ fds, goroutines int }

func (r resources) String() string {
	return fmt.Sprintf("%d fds, %d goroutines", r.fds, r.goroutines)
}

func measure(t testing.TB) resources {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return resources{fds: len(ents), goroutines: runtime.NumGoroutine()}
}

// checkResources waits up to 5 s for the process to be back within a few
// fds and goroutines of base (keep-alive connections and timers may
// linger a moment); the client's connections must be closed first.
func checkResources(t testing.TB, base resources) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := measure(t)
		if now.fds <= base.fds+4 && now.goroutines <= base.goroutines+8 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("resources %v; want back to %v (a few more at most)", now, base)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stalledGet sends a GET on a fresh connection with a small receive
// buffer and reads no more of the answer than its first bytes.
func stalledGet(t testing.TB, base, target string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // also when the test fails: the server waits for its handlers
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target); err != nil {
		t.Fatal(err)
	}
	// Wait for the response to start, so that the run holds its slot
	// before the test asks for another: read a few bytes, then no more.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 64)); err != nil {
		t.Fatalf("stalled request: no response started: %v", err)
	}
	return c
}

// freshClient is a client whose connections the test closes before it
// counts resources.
func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
}

// waitStatus asks for url until it gets want or until is over; it returns
// the last status and when it was had.
func waitStatus(t *testing.T, c *http.Client, url string, want int, until time.Time) (int, time.Time) {
	t.Helper()
	for {
		res, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == want || time.Now().After(until) {
			return res.StatusCode, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// oneEventWithReason asserts that route has exactly one access event with
// a reason other than concurrency (the test's polls while the slot was
// held): the stalled request's, whose id the client never read, and that
// its reason is want.
func oneEventWithReason(t *testing.T, logs *logBuffer, route, want string) {
	t.Helper()
	var got []event
	for _, e := range eventsOfRoute(t, logs, route) {
		if r := e.str("reason"); r != "" && r != "concurrency" { // the test's polls
			got = append(got, e)
		}
	}
	if len(got) != 1 || got[0].str("reason") != want {
		t.Errorf("route %s: events with a reason %v; want exactly one, reason %q", route, got, want)
	}
}

// TestSlowClientNotReading: a client that never reads a large response
// held the only slot of a 2 s route for 22 s. The run must end at its
// timeout, its slot free again, with one event, reason timeout.
func TestSlowClientNotReading(t *testing.T) {
	url, logs := slowSite(t, "60s", "60s", "1500ms")
	base := measure(t)
	start := time.Now()
	conn := stalledGet(t, url, "/big")
	c := freshClient()
	status, at := waitStatus(t, c, url+"/big?10", http.StatusOK, start.Add(8*time.Second))
	if status != http.StatusOK {
		t.Fatalf("second request: status %d; want 200 once the stalled run's 1.5s timeout is over", status)
	}
	if d := at.Sub(start); d > 3*time.Second {
		t.Errorf("slot free again after %v; want < timeout 1.5s + 1.5s", d)
	}
	conn.Close()
	c.CloseIdleConnections()
	waitRouteEvents(t, logs, "/big", 2)
	oneEventWithReason(t, logs, "/big", "timeout")
	checkResources(t, base)
}

// trickle sends a request head, then body one byte every 100 ms until the
// server answers or stop passes; it returns the status and when the
// answer came.
func trickle(t *testing.T, base, head string, body string, stop time.Duration) (int, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	answered := make(chan int, 1)
	go func() {
		_ = c.SetReadDeadline(start.Add(stop + 2*time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		answered <- statusOf(line)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case s := <-answered:
			return s, time.Since(start)
		case <-tick.C:
			if time.Since(start) < stop && i < len(body) {
				_, _ = c.Write([]byte{body[i]})
			}
		}
	}
}

// TestSlowClientBody: a body trickled one byte at a time kept its guest
// blocked in fd_read for 14 s; a chunked body that never ends was read
// before the guest's timer started. Both must end at the route's timeout
// (504 for a run stopped there, 408 for a body still being buffered), or
// at read_timeout (408), whichever comes first.
func TestSlowClientBody(t *testing.T) {
	long := strings.Repeat("x", 1000)
	lengthHead := "POST /readall HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
	chunkedHead := "POST /readall HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
	tests := []struct {
		name        string
		readTimeout string
		timeout     string
		head        string
		want        int
		reason      string
		bound       time.Duration
	}{
		{"trickled body, route timeout", "60s", "1500ms", lengthHead, 504, "timeout", 3 * time.Second},
		{"chunked body never ends, route timeout", "60s", "1500ms", chunkedHead, 408, "body", 3 * time.Second},
		{"trickled body, read_timeout", "1s", "20s", lengthHead, 408, "body", 2500 * time.Millisecond},
		{"chunked body never ends, read_timeout", "1s", "20s", chunkedHead, 408, "body", 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, logs := slowSite(t, tt.readTimeout, "60s", tt.timeout)
			base := measure(t)
			// The chunked client sends more chunk-size digits than
			// anything: never a whole chunk, never the last one.
			body := long
			if strings.Contains(tt.head, "chunked") {
				body = strings.Repeat("1", 1000)
			}
			status, d := trickle(t, url, tt.head, body, 6*time.Second)
			if status != tt.want {
				t.Errorf("status %d after %v; want %d", status, d, tt.want)
			}
			if d > tt.bound {
				t.Errorf("answered after %v; want < %v", d, tt.bound)
			}
			waitRouteEvents(t, logs, "/readall", 1)
			oneEventWithReason(t, logs, "/readall", tt.reason)
			checkResources(t, base)
			// The slot is free again.
			c := freshClient()
			if s, _ := waitStatus(t, c, url+"/readall", 200, time.Now()); s != 200 {
				t.Errorf("next request: status %d; want 200", s)
			}
			c.CloseIdleConnections()
		})
	}
}

// TestWriteTimeout: write_timeout aborts a response that makes no
// progress for that long, long before the route's timeout, and frees the
// slot; a response that keeps writing for longer is not cut.
func TestWriteTimeout(t *testing.T) {
	url, logs := slowSite(t, "60s", "500ms", "30s")
	base := measure(t)

	// slowbody writes a line every 200 ms for about a second, past a
	// 500 ms write_timeout, with pauses shorter than it.
	c := freshClient()
	res, err := c.Get(url + "/slowbody")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.HasSuffix(string(b), "line 5\n") {
		t.Errorf("streaming response: status %d, body %q, error %v; want 200 and all 5 lines", res.StatusCode, b, err)
	}

	start := time.Now()
	conn := stalledGet(t, url, "/big")
	status, at := waitStatus(t, c, url+"/big?10", http.StatusOK, start.Add(8*time.Second))
	if status != http.StatusOK {
		t.Fatalf("second request: status %d; want 200 once write_timeout has aborted the stalled one", status)
	}
	if d := at.Sub(start); d > 2500*time.Millisecond {
		t.Errorf("slot free again after %v; want < write_timeout 0.5s + 2s (route timeout 30s)", d)
	}
	conn.Close()
	c.CloseIdleConnections()
	waitRouteEvents(t, logs, "/big", 2)
	oneEventWithReason(t, logs, "/big", "client")
	if evs := eventsOfRoute(t, logs, "/slowbody"); len(evs) != 1 || evs[0].str("reason") != "" {
		t.Errorf("/slowbody events %v; want one, without a reason", evs)
	}
	checkResources(t, base)
}
