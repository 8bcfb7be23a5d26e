package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults for Handler fields left zero.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxBody        = 10 << 20
	DefaultMaxOutput      = 64 << 20
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxRedirects   = 10
)

// Handler runs a CGI program for each request. Its zero value with a Runner
// set works, with the defaults above.
type Handler struct {
	Runner Runner

	Route  string // the route pattern, for logs and X_MATCHED_ROUTE
	Module string // the module's name, for logs
	Root   string // SCRIPT_NAME of a prefix route; PATH_INFO is the rest of the path
	Exact  bool   // an exact route: SCRIPT_NAME is the whole path, PATH_INFO empty
	// MatchedRoute is X_MATCHED_ROUTE when it differs from Route (WAGI's
	// own spelling of the route, /x/... for the pattern /x/*).
	MatchedRoute string
	Env          []string // extra KEY=value variables from the configuration

	// Argv is a WAGI argv template ("${SCRIPT_NAME} ${ARGS}"). Empty means
	// RFC 3875 section 4.4: the script name, then the query's search words.
	Argv string

	// DocumentRoot is the guest path PATH_TRANSLATED is relative to; empty
	// means no PATH_TRANSLATED.
	DocumentRoot string

	// PassAuthorization passes the Authorization header as
	// HTTP_AUTHORIZATION, like Apache's CGIPassAuth.
	PassAuthorization bool

	Timeout        time.Duration // wall clock for one run, blocked I/O included -> 504
	MaxBody        int64         // request body bytes -> 413
	ReadTimeout    time.Duration // the whole request body -> 408
	WriteTimeout   time.Duration // no progress writing the response -> aborted
	MaxOutput      int64         // response bytes -> stopped, aborted
	MaxHeaderBytes int           // CGI header block bytes -> 502

	// PathLocationHandler serves internal redirects (a Location header with
	// a local path, RFC 3875 section 6.2.2). Nil means they are answered
	// as client redirects.
	PathLocationHandler http.Handler
}

func (h *Handler) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultTimeout
}

func (h *Handler) maxBody() int64 {
	if h.MaxBody > 0 {
		return h.MaxBody
	}
	return DefaultMaxBody
}

func (h *Handler) readTimeout() time.Duration {
	if h.ReadTimeout > 0 {
		return h.ReadTimeout
	}
	return DefaultReadTimeout
}

func (h *Handler) writeTimeout() time.Duration {
	if h.WriteTimeout > 0 {
		return h.WriteTimeout
	}
	return DefaultWriteTimeout
}

func (h *Handler) maxOutput() int64 {
	if h.MaxOutput > 0 {
		return h.MaxOutput
	}
	return DefaultMaxOutput
}

func (h *Handler) maxHeaderBytes() int {
	if h.MaxHeaderBytes > 0 {
		return h.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

// Causes of a stopped run, from context.Cause.
var (
	ErrTimeout    = errors.New("timeout")
	errClientGone = errors.New("client went away")
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := InfoFrom(r.Context())
	info.Route = h.Route
	info.Module = h.Module
	log := &requestLog{h: h, r: r}

	req := h.request(r)
	// One context for every way the host stops a run: the client leaving
	// (parent), the timeout and the output checks (causes). A timer that
	// cancels with ErrTimeout costs one context and one timer less than a
	// second, deadline context; what stopped the run is read from
	// context.Cause either way. The clock starts before a chunked body is
	// buffered, and an internal redirect keeps the first run's deadline
	// (issue 9).
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	deadline := time.Now().Add(h.timeout())
	hop, _ := r.Context().Value(hopsKey{}).(hopState)
	if !hop.deadline.IsZero() && hop.deadline.Before(deadline) {
		deadline = hop.deadline
	}
	// One allocation for the run's parts (issue 4).
	rs := &runState{
		out:    output{h: h, w: w, info: info, log: log, cancel: cancel, deadline: deadline, maxHeader: h.maxHeaderBytes(), maxOutput: h.maxOutput()},
		stderr: stderrLog{log: log, info: infoIn(r.Context())},
		cio:    clientIO{rc: *http.NewResponseController(w), writeTimeout: h.writeTimeout(), cancel: cancel},
	}
	cio := &rs.cio
	rs.out.cio = cio
	defer cio.close()
	timer := time.AfterFunc(time.Until(deadline), func() { cio.stopRun(ErrTimeout) })
	defer timer.Stop()

	body, length, status := h.body(ctx, w, r, cio)
	if status != 0 {
		cio.close()
		err := fmt.Errorf("%w (max_body %d bytes)", errBody(status), h.maxBody())
		if status == http.StatusRequestTimeout {
			err = fmt.Errorf("%w: a chunked body is read whole before the guest starts, within timeout %v", ErrBodyTimeout, h.timeout())
		}
		report(r.Context(), log, "body", err)
		http.Error(w, http.StatusText(status), status)
		return
	}

	args, env, err := h.invocation(r, req, length)
	if err != nil {
		cio.close()
		report(r.Context(), log, "request", err)
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}

	rs.out.head = rs.head[:0]
	out, stderr, inv := &rs.out, &rs.stderr, &rs.inv
	*inv = Invocation{
		Args:   args,
		Env:    env,
		Stdin:  body,
		Stdout: out,
		Stderr: stderr,
	}
	err = h.Runner.Run(ctx, inv)
	out.close()
	cio.close()
	stderr.flush()
	info.Instantiate = inv.Instantiate
	if out.err != nil {
		// The host stopped the guest (bad header block, output cap, client
		// gone): that is why it failed, whatever it did next, such as
		// exiting 1 on EIO.
		err = out.err
	}
	if err == nil {
		out.finish(r, log)
		return
	}
	h.fail(w, r, out, err, context.Cause(ctx), log)
}

// fail answers a run that ended in err. cause is the run context's cause.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, out *output, err, cause error, log *requestLog) {
	info := InfoFrom(r.Context())
	status := http.StatusBadGateway
	reason := "crash"
	var exit interface{ ExitCode() int }
	var memory interface{ MemoryLimitReached() bool }
	switch {
	case errors.Is(cause, ErrTimeout):
		// First: a deadline that unblocked the guest's I/O also cancels
		// the request's context (net/http does on a failed read or write).
		status, reason = http.StatusGatewayTimeout, "timeout"
	case errors.Is(cause, ErrBodyTimeout) || out.cio.bodyTimedOut():
		status, reason = http.StatusRequestTimeout, "body"
	case (r.Context().Err() != nil || errors.Is(err, errClientGone)) && out.complete():
		// The client read the whole body the guest declared and closed
		// while the guest was still running (CPython finalising after a
		// WSGI response, issue 14): the client got its whole response, a
		// success. Stopping the guest then is not a failure.
		return
	case r.Context().Err() != nil || errors.Is(err, errClientGone):
		// The client went away: nobody to answer.
		report(r.Context(), log, "client", fmt.Errorf("client went away; guest stopped: %w", err))
		if out.committed {
			panic(http.ErrAbortHandler)
		}
		info.Status = 499 // nginx's "client closed request", for the log only
		return
	case errors.Is(err, ErrOutputTooLarge) || errors.Is(cause, ErrOutputTooLarge):
		reason = "output"
	case errors.As(err, &memory):
		reason = "memory"
	case errors.As(err, &exit):
		reason = "exit"
	case isCGIError(err):
		reason = "invalid"
	}
	if out.committed {
		report(r.Context(), log, reason, fmt.Errorf("%w (after %d body bytes; response aborted)", err, out.bodyBytes))
		// The client must not take a cut body for a whole one: send what
		// the script wrote, then abort the connection before the response's
		// end (net/http handles this panic without logging it).
		out.cio.abortBy(out.deadline)
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	report(r.Context(), log, reason, err)
	http.Error(w, http.StatusText(status), status)
}

func isCGIError(err error) bool {
	for _, e := range []error{ErrNoHeader, ErrHeaderTooLarge, ErrNoContentType, ErrBadStatus, ErrBadHeaderName, ErrBadHeaderValue, ErrBadHeaderLine, ErrBadContentLength, ErrContentLength} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (h *Handler) logger(r *http.Request) zerolog.Logger {
	return zerolog.Ctx(r.Context()).With().Str("route", h.Route).Str("module", h.Module).Logger()
}

// runState is what one run needs, allocated together.
type runState struct {
	out    output
	stderr stderrLog
	cio    clientIO
	inv    Invocation
	head   [512]byte // the header block of most scripts fits
}

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
	pending   []byte // body bytes that came with the header block
	committed bool   // the status line has been sent
	discard   bool   // internal redirect: the body is ignored
	noBody    bool   // 204 or 304: a body the guest writes is dropped
	bodyBytes int64
	total     int64
	err       error // first error; the guest is stopped

	// Body bytes wait in net/http's buffer for at most flushDelay; the
	// timer's flush runs on another goroutine, hence the lock.
	mu     sync.Mutex
	timer  *time.Timer
	armed  bool // a flush is scheduled
	closed bool // the run is over: the handler owns w again
}

// flushDelay bounds how long a script's output may sit in the response
// buffer. Flushing after every write cost a syscall per write, about a
// quarter of the server's CPU for a C guest that writes once (issue 4); with
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
		res, err := parseHeader(o.head[:end])
		if err != nil {
			return 0, o.stop(err)
		}
		o.res = res
		o.logDropped(res.dropped, "hop-by-hop")
		o.discard = res.location != "" && o.h.PathLocationHandler != nil
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
	if !o.armed {
		o.armed = true
		if o.timer == nil {
			o.timer = time.AfterFunc(flushDelay, o.timedFlush)
		} else {
			o.timer.Reset(flushDelay)
		}
	}
	return nil
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
	if o.timer != nil {
		o.timer.Stop()
	}
}

// finish completes a run that ended well.
func (o *output) finish(r *http.Request, log *requestLog) {
	if o.res == nil {
		o.h.fail(o.w, r, o, ErrNoHeader, nil, log)
		return
	}
	if o.discard {
		o.h.redirect(o.w, r, o.res.location, o.deadline, log)
		return
	}
	if cl := o.res.contentLength; cl > o.bodyBytes && !o.noBody && r.Method != http.MethodHead {
		// A short body: a clean 502 if nothing was sent yet, else an
		// aborted response, never a cut body taken for a whole one.
		o.h.fail(o.w, r, o, fmt.Errorf("%w: %d of the %d bytes declared", ErrContentLength, o.bodyBytes, cl), nil, log)
		return
	}
	o.commit()
}
