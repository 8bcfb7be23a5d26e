package host

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// output is the guest's stdout: it collects the header block, then streams
// the body to the client, flushing after each write so that a script's
// output arrives as it is written.
type output struct {
	h         *Handler
	w         http.ResponseWriter
	info      *Info
	log       *requestLog
	cancel    context.CancelCauseFunc
	cio       *clientIO
	deadline  time.Time // the run's, which an internal redirect keeps
	maxHeader int
	maxOutput int64

	head      []byte
	res       *response
	resBuf    response // where res points once parsed: no allocation of its own
	pending   []byte   // body bytes that came with the header block
	committed bool     // the status line has been sent
	discard   bool     // internal redirect or X-Sendfile: the body is ignored
	sendfile  string   // the guest path of an X-Sendfile answer
	noBody    bool     // 204 or 304: a body the guest writes is dropped
	bodyBytes int64
	total     int64
	err       error // first error; the guest is stopped

	// Body bytes wait in net/http's buffer for at most flushDelay; the
	// timer's flush runs on another goroutine, hence the lock.
	mu     sync.Mutex
	timer  *time.Timer // the run's one timer (tick): its deadline, or the next flush
	armed  bool        // the timer is set for a flush
	closed bool        // the run is over: the handler owns w again
	over   atomic.Bool // the handler is returning: the timer is not set again
}

// flushDelay bounds how long a script's output may sit in the response
// buffer. Flushing after every write cost a syscall per write, about a
// quarter of the server's CPU for a C guest that writes once; with
// a short delay the writes of a quick run and the end of its response go
// out together, while a streaming script's lines still arrive as written.
const flushDelay = 2 * time.Millisecond

// Write implements io.Writer for the guest's stdout. Returning an error
// makes the guest see EIO; the run is also cancelled so a guest that
// ignores the error is stopped anyway.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	o.total += int64(len(p))
	if o.total > o.maxOutput {
		return 0, o.stop(fmt.Errorf("%w (%d bytes)", ErrOutputTooLarge, o.maxOutput))
	}
	if o.res == nil {
		from := max(0, len(o.head)-3)
		o.head = append(o.head, p...)
		end, bodyStart := findHeaderEnd(o.head, from)
		if end < 0 {
			// The block ends at len(o.head)-2 at the earliest (the buffer
			// may end in "\n\r" of the blank line): only past that is
			// it surely too large, so the verdict never depends on how
			// the guest split its writes.
			if len(o.head)-2 > o.maxHeader {
				return 0, o.stop(fmt.Errorf("%w (over %d bytes)", ErrHeaderTooLarge, o.maxHeader))
			}
			return len(p), nil
		}
		if end > o.maxHeader {
			return 0, o.stop(fmt.Errorf("%w (%d bytes)", ErrHeaderTooLarge, end))
		}
		res := &o.resBuf
		if err := res.parse(o.head[:end]); err != nil {
			return 0, o.stop(err)
		}
		o.res = res
		o.logDropped(res.dropped, "hop-by-hop")
		o.discard = res.location != "" && o.h.PathLocationHandler != nil
		if f := res.header.Get(sendfileHeader); f != "" && o.h.Sendfile != nil {
			res.header.Del(sendfileHeader)
			o.sendfile, o.discard = f, true
		}
		// RFC 9110 sections 15.3.5 and 15.4.5: no content. net/http
		// refuses body bytes for these (ErrBodyNotAllowed), which must
		// not abort the response: drop them, as for a HEAD request.
		o.noBody = res.status == http.StatusNoContent || res.status == http.StatusNotModified
		rest := o.head[bodyStart:]
		o.head = nil
		if len(rest) == 0 || o.discard {
			return len(p), nil
		}
		if err := o.writeBody(rest); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if o.discard {
		return len(p), nil
	}
	if err := o.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (o *output) stop(err error) error {
	o.err = err
	o.cancel(err)
	o.cio.stop(false)
	return err
}

// commit sends the status line and headers. It waits for the first body
// byte (or the end of the run) so that a script failing between its header
// block and its body still gets a clean 502.
func (o *output) commit() {
	if o.committed {
		return
	}
	o.committed = true
	hdr := o.w.Header()
	for k, vv := range o.res.header {
		if k == "X-Request-Id" && len(hdr[k]) > 0 {
			// The server's id is the one its log knows the request by.
			o.logDropped([]string{k}, "the server sets it")
			continue
		}
		hdr[k] = vv
	}
	status := o.res.status
	if o.res.location != "" {
		// A local Location without a handler to serve it: tell the client.
		status = http.StatusFound
	}
	o.info.Status = status
	o.w.WriteHeader(status)
}

func (o *output) writeBody(p []byte) error {
	// A stopped run sends nothing, not even its status line: it is
	// answered as the stop decides.
	if !o.cio.beginWrite() {
		return o.stop(errStopped)
	}
	o.commit()
	if o.noBody {
		o.cio.endWrite()
		return nil
	}
	// A body longer than the script's Content-Length: send what it
	// declared, then stop it (the response is aborted, see fail).
	// net/http would refuse the whole write with ErrContentLength, which
	// read as the client's fault.
	over := false
	if cl := o.res.contentLength; cl >= 0 && o.bodyBytes+int64(len(p)) > cl {
		p, over = p[:cl-o.bodyBytes], true
	}
	n, err := o.w.Write(p)
	o.cio.endWrite()
	o.bodyBytes += int64(n)
	if err != nil {
		return o.stop(o.cio.writeFailed(err))
	}
	if over {
		return o.stop(fmt.Errorf("%w: more than the %d bytes declared", ErrContentLength, o.res.contentLength))
	}
	// A deadline nearer than the flush keeps the timer: the run is
	// stopped then, which sends nothing more anyway.
	if !o.armed && o.timer != nil && time.Until(o.deadline) > flushDelay {
		o.armed = true
		o.timer.Reset(flushDelay)
	}
	return nil
}

// tick is the run's timer, one per request where a deadline and a flush
// timer took two timers and two functions a request: at the deadline it
// stops the run; before it, it sends what the script wrote since the last
// flush and sets the timer for the deadline again.
func (o *output) tick() {
	if !time.Now().Before(o.deadline) {
		o.cio.stopRun(ErrTimeout)
		return
	}
	// Set again before the lock, which a write blocked on the client
	// holds: the deadline must unblock it. A write arms a flush only
	// after this tick clears armed, under the lock, so it is not lost.
	if !o.over.Load() {
		o.timer.Reset(time.Until(o.deadline))
		// stopTimer may have run between the check and the Reset: the
		// timer must not outlive the request (nor keep it in memory).
		if o.over.Load() {
			o.timer.Stop()
		}
	}
	o.timedFlush()
}

// timedFlush sends what the script wrote since the last flush.
func (o *output) timedFlush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.armed = false
	if o.closed || o.err != nil || !o.cio.beginWrite() {
		return
	}
	err := o.cio.flush(o.w)
	o.cio.endWrite()
	if err != nil {
		o.stop(o.cio.writeFailed(err))
	}
}

// complete reports whether the whole response was sent: the guest declared
// a Content-Length and every byte of it was written to the client.
func (o *output) complete() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.committed || o.res == nil {
		return false
	}
	cl := o.res.header.Get("Content-Length")
	n, err := strconv.ParseInt(cl, 10, 64)
	return cl != "" && err == nil && n >= 0 && o.bodyBytes == n
}

// close ends the output when the run is over; net/http sends what is still
// buffered when the handler returns.
func (o *output) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
}

// stopTimer stops the run's timer for good when the handler returns.
func (o *output) stopTimer() {
	o.over.Store(true)
	o.timer.Stop()
}

// finish completes a run that ended well.
func (o *output) finish(r *http.Request, log *requestLog) {
	if o.res == nil {
		o.h.fail(o.w, r, o, ErrNoHeader, nil, log, nil)
		return
	}
	if o.sendfile != "" {
		o.h.sendfile(o.w, r, o, log)
		return
	}
	if o.discard {
		o.h.redirect(o.w, r, o.res.location, o.deadline, log)
		return
	}
	if cl := o.res.contentLength; cl > o.bodyBytes && !o.noBody && r.Method != http.MethodHead {
		// A short body: a clean 502 if nothing was sent yet, else an
		// aborted response, never a cut body taken for a whole one.
		o.h.fail(o.w, r, o, fmt.Errorf("%w: %d of the %d bytes declared", ErrContentLength, o.bodyBytes, cl), nil, log, nil)
		return
	}
	o.commit()
}
