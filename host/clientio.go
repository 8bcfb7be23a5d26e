package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// Defaults of the server's read and write timeouts, like Apache's Timeout
// or nginx's client_body_timeout and send_timeout
// (cmd/wasigate/DECISIONS.md#time-blocked-on-the-client-counts).
const (
	DefaultReadTimeout  = 60 * time.Second
	DefaultWriteTimeout = 60 * time.Second
)

// ErrBodyTimeout is the cause of a run stopped because the request body
// did not arrive in time: within read_timeout, or, for a chunked body the
// host buffers before the guest starts, within the route's timeout. It is
// answered 408, the client's fault (RFC 9110 section 15.5.9).
var ErrBodyTimeout = errors.New("request body not received in time")

// errStopped is what a write gets once the run has ended.
var errStopped = errors.New("run stopped")

// clientIO bounds the time a run spends blocked on its client:
// the guest's stdin is the request body and its stdout the response, both
// read and written on the network, where a slow or absent client can block
// them for ever. net/http unblocks a handler's body read or response write
// only through deadlines (http.ResponseController, HTTP/1 and HTTP/2), so:
//
//   - when the host stops the run (timeout, output checks), a body still
//     being read gets a read deadline of now, and a response being written
//     (or started) a write deadline of now: a stopped run never waits on
//     the network. A client that leaves needs none: the end of its
//     connection or stream fails the read or write itself;
//   - the body must be in within readTimeout (read_timeout);
//   - each write of the response must progress within writeTimeout
//     (write_timeout); the deadline is set before a write and cleared
//     after it, so a streaming response that keeps writing is never cut,
//     and an HTTP/2 stream (whose write deadline is a timer that resets
//     the stream even when no write is pending) is not reset between
//     writes.
//
// The deadlines are set under mu, never held across a network operation.
type clientIO struct {
	rc           http.ResponseController
	writeTimeout time.Duration
	cancel       context.CancelCauseFunc // the run's

	mu        sync.Mutex
	bodyOpen  bool // the body may still be read: its EOF or error not seen
	readLate  bool // read_timeout passed with the body open
	bodyLate  bool // the body failed because of it
	inWrite   bool // a write or flush of the response is under way
	committed bool // the response has started: a failure aborts it
	stopped   bool // the run ended abnormally: no more writes
	cut       bool // the response's write deadline is now: it is aborted
	closed    bool // the handler is returning: w is not ours to touch
	readTimer *time.Timer
	// noDeadlines: w cannot take deadlines (a ResponseWriter of a test,
	// an embedder's wrapper without Unwrap); asking again would only
	// allocate an error each time.
	noDeadlines bool
}

func (c *clientIO) setWrite(t time.Time) {
	if !c.noDeadlines && errors.Is(c.rc.SetWriteDeadline(t), http.ErrNotSupported) {
		c.noDeadlines = true
	}
}

func (c *clientIO) setRead(t time.Time) {
	if !c.noDeadlines && errors.Is(c.rc.SetReadDeadline(t), http.ErrNotSupported) {
		c.noDeadlines = true
	}
}

// stopRun stops the run with cause err and unblocks its I/O.
func (c *clientIO) stopRun(err error) {
	c.cancel(err)
	c.stop(true)
}

// watchBody arms read_timeout for a body that is still to be read.
func (c *clientIO) watchBody(readTimeout time.Duration) {
	c.mu.Lock() // the run's timer is already running
	defer c.mu.Unlock()
	c.bodyOpen = true
	c.readTimer = time.AfterFunc(readTimeout, c.readExpired)
}

func (c *clientIO) readExpired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.bodyOpen {
		return
	}
	c.readLate = true
	c.setRead(time.Now())
}

// bodyEnded records that the body reached its end or failed. It returns
// ErrBodyTimeout when it failed because read_timeout passed.
func (c *clientIO) bodyEnded(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Past EOF net/http's HTTP/1 server reads the connection in the
	// background to notice a client leaving; a read deadline then would
	// pass for the client's departure, so none is set once the body is
	// done. (The background read starts inside the Read that hits EOF,
	// a moment before this: a deadline falling in that moment is the one
	// case left to chance, and it ends the request as if the client left.)
	c.bodyOpen = false
	if c.readTimer != nil {
		c.readTimer.Stop()
	}
	if err != nil && err != io.EOF && c.readLate {
		// The run is over (408): the guest's next write must not
		// start a response, before the context's stop catches up.
		c.bodyLate, c.stopped = true, true
		return ErrBodyTimeout
	}
	return nil
}

// bodyTimedOut says whether the body failed because read_timeout passed:
// the cause to answer (408), although net/http, failing the read, also
// cancelled the request's context first.
func (c *clientIO) bodyTimedOut() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bodyLate
}

// writeFailed is the error of a failed write or flush of the response:
// the run was stopped (its cause says why), the client went away, or it
// made no progress within write_timeout.
func (c *clientIO) writeFailed(err error) error {
	if c == nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return fmt.Errorf("%w: %v", errStopped, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: no progress within write_timeout %v: %v", errClientGone, c.writeTimeout, err)
	}
	return fmt.Errorf("%w: %v", errClientGone, err)
}

// stop unblocks the run's I/O once the host has stopped it: a body read
// returns, and a write under way returns (HTTP/2 resets the stream).
// At the deadline (cut) a started response is cut at once too: it is
// aborted anyway, and flushing its buffered end could wait on a client
// that does not read. An output check (cap, the guest's Content-Length)
// keeps that end, which fail sends within write_timeout before aborting.
// A client that went away needs none of this: the end of its connection
// or stream fails the read or write itself.
func (c *clientIO) stop(cut bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.stopped = true
	now := time.Now()
	if c.bodyOpen {
		c.setRead(now)
	}
	if c.inWrite || (cut && c.committed) {
		c.setWrite(now)
		c.cut = true
	}
}

// beginWrite starts a write or flush of the response, with its progress
// deadline; false means the run has stopped and nothing may be written.
func (c *clientIO) beginWrite() bool {
	if c == nil { // an output tested on its own
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.closed {
		return false
	}
	c.inWrite, c.committed = true, true
	c.setWrite(time.Now().Add(c.writeTimeout))
	return true
}

// flush sends what net/http has buffered.
func (c *clientIO) flush(w http.ResponseWriter) error {
	if c == nil {
		return http.NewResponseController(w).Flush()
	}
	return c.rc.Flush()
}

func (c *clientIO) endWrite() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inWrite = false
	if !c.stopped && !c.closed {
		c.setWrite(time.Time{})
	}
}

// close ends the run's hold on the connection when the handler returns.
// What the handler still writes (an error page, the buffered end of the
// response that net/http sends after it returns) gets one more
// write_timeout; a cut response keeps its deadline of now.
func (c *clientIO) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.readTimer != nil {
		c.readTimer.Stop()
	}
	if !c.cut {
		c.setWrite(time.Now().Add(c.writeTimeout))
	}
}

// abortBy bounds the last flush of a failed, started response by the
// run's deadline as well as write_timeout: the route's timeout bounds the
// whole run, that flush included, even to a client that does not read.
func (c *clientIO) abortBy(deadline time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return
	}
	d := time.Now().Add(c.writeTimeout)
	if deadline.Before(d) {
		d = deadline
	}
	c.setWrite(d)
}

// stdin is the guest's view of the request body, reporting its end to
// clientIO and turning a read cut by read_timeout into ErrBodyTimeout.
type stdin struct {
	r io.Reader
	c *clientIO
}

func (s *stdin) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		if late := s.c.bodyEnded(err); late != nil {
			s.c.cancel(late)
			return n, late
		}
	}
	return n, err
}

// errBody is the error of a request body refused with status.
func errBody(status int) error {
	if status == http.StatusRequestEntityTooLarge {
		return ErrBodyTooLarge
	}
	return errBodyRead
}

// Errors about the request body.
var (
	ErrBodyTooLarge = errors.New("request body over the limit")
	errBodyRead     = errors.New("reading the request body failed")
)

// body returns the guest's stdin and CONTENT_LENGTH, or a status to answer
// with instead: 413 for a body over the limit, 408 for a chunked body not
// in before the run's deadline. A body of unknown length (chunked) is read
// up to the limit so that CONTENT_LENGTH is exact; that read counts
// against the run's time, so that a trickled body cannot hold a slot for
// ever: the caller's timer is already running and its stop unblocks the
// read.
func (h *Handler) body(ctx context.Context, w http.ResponseWriter, r *http.Request, c *clientIO) (io.Reader, int64, int) {
	max := h.maxBody()
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, 0, 0
	}
	if r.ContentLength > max {
		return nil, 0, http.StatusRequestEntityTooLarge
	}
	c.watchBody(h.readTimeout())
	if r.ContentLength > 0 {
		// Never more than declared; MaxBytesReader also closes the
		// connection if the client sends more than the limit.
		return &stdin{r: http.MaxBytesReader(w, r.Body, r.ContentLength), c: c}, r.ContentLength, 0
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(&stdin{r: r.Body, c: c}, max+1))
	if n > max {
		return nil, 0, http.StatusRequestEntityTooLarge
	}
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrTimeout) || errors.Is(err, ErrBodyTimeout) {
			return nil, 0, http.StatusRequestTimeout
		}
		return nil, 0, http.StatusBadRequest
	}
	return &buf, n, 0
}
