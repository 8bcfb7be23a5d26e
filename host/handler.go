package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

	Timeout        time.Duration // wall clock for one run -> 504
	MaxBody        int64         // request body bytes -> 413
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
	body, length, status := h.body(w, r)
	if status != 0 {
		report(r.Context(), log, "body", fmt.Errorf("%w (max_body %d bytes)", errBody(status), h.maxBody()))
		http.Error(w, http.StatusText(status), status)
		return
	}

	args, env, err := h.invocation(r, req, length)
	if err != nil {
		report(r.Context(), log, "request", err)
		http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
		return
	}

	// One context for every way the host stops a run: the client leaving
	// (parent), the timeout and the output checks (causes). A timer that
	// cancels with ErrTimeout costs one context and one timer less than a
	// second, deadline context; what stopped the run is read from
	// context.Cause either way.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	timer := time.AfterFunc(h.timeout(), func() { cancel(ErrTimeout) })
	defer timer.Stop()

	// One allocation for the run's parts (issue 4).
	rs := &runState{
		out:    output{h: h, w: w, info: info, cancel: cancel, maxHeader: h.maxHeaderBytes(), maxOutput: h.maxOutput()},
		stderr: stderrLog{log: log},
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
	case errors.Is(cause, ErrTimeout):
		status, reason = http.StatusGatewayTimeout, "timeout"
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
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	report(r.Context(), log, reason, err)
	http.Error(w, http.StatusText(status), status)
}

func isCGIError(err error) bool {
	for _, e := range []error{ErrNoHeader, ErrHeaderTooLarge, ErrNoContentType, ErrBadStatus, ErrBadHeaderName, ErrBadHeaderValue, ErrBadHeaderLine} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (h *Handler) logger(r *http.Request) zerolog.Logger {
	return zerolog.Ctx(r.Context()).With().Str("route", h.Route).Str("module", h.Module).Logger()
}

// request works out SCRIPT_NAME and PATH_INFO the way Go's net/http/cgi
// does: Root is the script, the rest of the path is PATH_INFO.
func (h *Handler) request(r *http.Request) request {
	req := request{route: h.Route, scriptName: h.Root}
	if h.MatchedRoute != "" {
		req.route = h.MatchedRoute
	}
	if h.Exact {
		req.scriptName = r.URL.Path
		return req
	}
	root, rawRoot := h.Root, h.Root
	if strings.Contains(root, "{") {
		// A pattern with parameters (/u/{id}/*): the script is as many
		// segments of the path as the pattern has, since a parameter
		// never spans a "/". Counted on the escaped path, where an
		// encoded %2F is not a separator.
		rawRoot = leadingSegments(r.URL.EscapedPath(), strings.Count(root, "/"))
		if d, err := url.PathUnescape(rawRoot); err == nil {
			root = d
		}
		req.scriptName = root
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, root); ok {
		req.pathInfo = rest
	}
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), rawRoot); ok {
		req.rawPath = rest
	}
	return req
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

// leadingSegments returns the first n "/"-started segments of p.
func leadingSegments(p string, n int) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			if n == 0 {
				return p[:i]
			}
			n--
		}
	}
	return p
}

// body returns the guest's stdin and CONTENT_LENGTH, or a status to answer
// with instead: 413 for a body over the limit. A body of unknown length
// (chunked) is read up to the limit so that CONTENT_LENGTH is exact.
func (h *Handler) body(w http.ResponseWriter, r *http.Request) (io.Reader, int64, int) {
	max := h.maxBody()
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, 0, 0
	}
	if r.ContentLength > max {
		return nil, 0, http.StatusRequestEntityTooLarge
	}
	if r.ContentLength > 0 {
		// Never more than declared; MaxBytesReader also closes the
		// connection if the client sends more than the limit.
		return http.MaxBytesReader(w, r.Body, r.ContentLength), r.ContentLength, 0
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r.Body, max+1))
	if n > max {
		return nil, 0, http.StatusRequestEntityTooLarge
	}
	if err != nil {
		return nil, 0, http.StatusBadRequest
	}
	return &buf, n, 0
}

// runState is what one run needs, allocated together.
type runState struct {
	out    output
	stderr stderrLog
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
	cancel    context.CancelCauseFunc
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
	o.commit()
	if o.noBody {
		return nil
	}
	n, err := o.w.Write(p)
	o.bodyBytes += int64(n)
	if err != nil {
		return o.stop(fmt.Errorf("%w: %v", errClientGone, err))
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
	if o.closed || o.err != nil {
		return
	}
	if err := http.NewResponseController(o.w).Flush(); err != nil {
		o.stop(fmt.Errorf("%w: %v", errClientGone, err))
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
		o.h.redirect(o.w, r, o.res.location, log)
		return
	}
	o.commit()
}
