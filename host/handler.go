package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

	// Sendfile, when set, lets the guest answer X-Sendfile: /guest/path;
	// it opens that path, inside the route's volumes only, and the file is
	// sent instead of the guest's body (sendfile.go). Nil: the header is
	// an ordinary one.
	Sendfile func(guestPath string) (SendfileFile, error)

	// ShowErrors puts what the guest wrote to stderr (a traceback), as
	// logged, and the reason it failed into the page of a run that failed
	// before its response started. Off by default: a traceback shows
	// paths, code and data.
	ShowErrors bool
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
	// A router in front names the route and module before its middleware
	// runs (each field is written once, by the layer that knows it);
	// a handler served alone names them here.
	if info.Route == "" && info.Module == "" {
		info.Route, info.Module = h.Route, h.Module
	}
	req := h.request(r)
	// One context for every way the host stops a run: the client leaving
	// (parent), the timeout and the output checks (causes). A timer that
	// cancels with ErrTimeout costs one context and one timer less than a
	// second, deadline context; what stopped the run is read from
	// context.Cause either way. The clock starts before a chunked body is
	// buffered, and an internal redirect keeps the first run's deadline
	// (cmd/wasigate/DECISIONS.md#one-request-one-slot-one-deadline).
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	deadline := time.Now().Add(h.timeout())
	hop, _ := r.Context().Value(hopsKey{}).(hopState)
	if !hop.deadline.IsZero() && hop.deadline.Before(deadline) {
		deadline = hop.deadline
	}
	// One allocation for the run's parts, since every request pays for it.
	rs := &runState{
		log: requestLog{h: h, r: r},
		cio: clientIO{rc: *http.NewResponseController(w), writeTimeout: h.writeTimeout(), cancel: cancel},
	}
	log := &rs.log
	rs.out = output{h: h, w: w, info: info, log: log, cancel: cancel, deadline: deadline, maxHeader: h.maxHeaderBytes(), maxOutput: h.maxOutput()}
	rs.stderr = stderrLog{log: log, info: infoIn(r.Context()), keep: h.ShowErrors}
	cio := &rs.cio
	rs.out.cio = cio
	defer cio.close()
	rs.out.timer = time.AfterFunc(time.Until(deadline), rs.out.tick)
	defer rs.out.stopTimer()

	body, length, status := h.body(ctx, w, r, cio)
	if status != 0 {
		cio.close()
		err := fmt.Errorf("%w (max_body %d bytes)", errBody(status), h.maxBody())
		if status == http.StatusRequestTimeout {
			err = fmt.Errorf("%w: a chunked body is read whole before the guest starts, within timeout %v", ErrBodyTimeout, h.timeout())
		}
		report(r.Context(), log, ReasonBody, err)
		http.Error(w, http.StatusText(status), status)
		return
	}

	args, env, err := h.invocation(r, req, length)
	if err != nil {
		cio.close()
		report(r.Context(), log, ReasonRequest, err)
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
	h.fail(w, r, out, err, context.Cause(ctx), log, stderr.shown())
}

// fail answers a run that ended in err. cause is the run context's cause.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, out *output, err, cause error, log *requestLog, shown []byte) {
	info := InfoFrom(r.Context())
	status := http.StatusBadGateway
	reason := ReasonCrash
	var exit interface{ ExitCode() int }
	var memory interface{ MemoryLimitReached() bool }
	switch {
	case errors.Is(cause, ErrTimeout):
		// First: a deadline that unblocked the guest's I/O also cancels
		// the request's context (net/http does on a failed read or write).
		status, reason = http.StatusGatewayTimeout, ReasonTimeout
	case errors.Is(cause, ErrBodyTimeout) || out.cio.bodyTimedOut():
		status, reason = http.StatusRequestTimeout, ReasonBody
	case (r.Context().Err() != nil || errors.Is(err, errClientGone)) && out.complete():
		// The client read the whole body the guest declared and closed
		// while the guest was still running (CPython finalising after a
		// WSGI response): the client got its whole response, a
		// success. Stopping the guest then is not a failure.
		return
	case r.Context().Err() != nil || errors.Is(err, errClientGone):
		// The client went away: nobody to answer.
		report(r.Context(), log, ReasonClient, fmt.Errorf("client went away; guest stopped: %w", err))
		if out.committed {
			panic(http.ErrAbortHandler)
		}
		info.Status = 499 // nginx's "client closed request", for the log only
		return
	case errors.Is(err, ErrOutputTooLarge) || errors.Is(cause, ErrOutputTooLarge):
		reason = ReasonOutput
	case errors.As(err, &memory):
		reason = ReasonMemory
	case errors.As(err, &exit):
		reason = ReasonExit
	case isCGIError(err):
		reason = ReasonInvalid
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
	body := http.StatusText(status)
	if h.ShowErrors {
		body += ": " + err.Error()
		if len(shown) > 0 {
			body += "\n\n" + string(shown)
		}
	}
	http.Error(w, body, status)
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
	log    requestLog
	out    output
	stderr stderrLog
	cio    clientIO
	inv    Invocation
	head   [512]byte // the header block of most scripts fits
}
