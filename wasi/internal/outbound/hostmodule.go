package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// The host module wasi_experimental_http, with the ABI that
// deislabs/wasi-experimental-http publishes in its witx file and that WAGI
// offers: req, close, header_get, headers_get_all and body_read. Every
// function returns one of the http_error codes below; results go through
// pointers the guest passes. Headers cross the boundary as "name:value"
// lines, each ending in "\n".

// ModuleName is the import module name guests use.
const ModuleName = "wasi_experimental_http"

// http_error codes, in the witx enum's order (tag u32).
const (
	httpSuccess             = 0
	httpInvalidHandle       = 1
	httpMemoryNotFound      = 2
	httpMemoryAccessError   = 3
	httpBufferTooSmall      = 4
	httpHeaderNotFound      = 5
	httpUTF8Error           = 6
	httpDestinationNotAllow = 7
	httpInvalidMethod       = 8
	httpInvalidEncoding     = 9
	httpInvalidURL          = 10
	httpRequestError        = 11
	httpRuntimeError        = 12
	httpTooManySessions     = 13
)

// Event describes one outbound request when it ends: refused,
// failed, or its body read to the end or closed.
type Event struct {
	Method   string
	Host     string // scheme://host:port, or what the guest asked for when refused
	Status   int    // 0 when no response came
	Bytes    int64  // response body bytes handed to the guest
	Duration time.Duration
	// Outcome is "ok", "refused" (the policy said no) or "failed".
	Outcome string
	// Reason says why for an outcome other than ok: host, address,
	// redirect, requests, concurrency, invalid, max_body, timeout,
	// upstream, stopped.
	Reason string
	Err    error
}

// Instantiate adds the wasi_experimental_http host module to rt.
func Instantiate(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(ModuleName)
	i32 := api.ValueTypeI32
	fn := func(name string, f api.GoModuleFunc, params int) {
		in := make([]api.ValueType, params)
		for i := range in {
			in[i] = i32
		}
		b.NewFunctionBuilder().WithGoModuleFunction(f, in, []api.ValueType{i32}).Export(name)
	}
	fn("req", outboundReq, 10)
	fn("close", outboundClose, 1)
	fn("header_get", outboundHeaderGet, 6)
	fn("headers_get_all", outboundHeadersGetAll, 4)
	fn("body_read", outboundBodyRead, 4)
	_, err := b.Instantiate(ctx)
	return err
}

type outboundKey struct{}

// outboundRun is one run's outbound state: its responses by handle, how
// many requests it made, and its own transport, so that nothing of it
// outlives the run (finish).
type outboundRun struct {
	ctx     context.Context
	policy  *Policy // nil: nothing allowed
	observe func(Event)

	mu      sync.Mutex
	handles map[uint32]*outboundResp
	next    uint32
	count   int
	client  *http.Client
	tr      *http.Transport
	done    bool
}

// outboundResp is a response the guest holds a handle to.
type outboundResp struct {
	resp    *http.Response
	cancel  context.CancelFunc
	ev      Event
	start   time.Time
	release func()
	ended   bool
	failed  uint32 // the code body_read keeps returning after a failure
}

type observerKey struct{}

// WithObserver returns ctx with f, which a run under ctx tells of
// each outbound request when it ends (for a log event and metrics). The
// host puts it in the run's context, as it does its logger.
func WithObserver(ctx context.Context, f func(Event)) context.Context {
	return context.WithValue(ctx, observerKey{}, f)
}

// With puts a run's outbound state in ctx; finish, called when
// the run ends however it ends, closes every response and connection.
func With(ctx context.Context, policy *Policy) (context.Context, func()) {
	observe, _ := ctx.Value(observerKey{}).(func(Event))
	run := &outboundRun{ctx: ctx, policy: policy, observe: observe, handles: map[uint32]*outboundResp{}}
	return context.WithValue(ctx, outboundKey{}, run), run.finish
}

func (run *outboundRun) finish() {
	run.mu.Lock()
	defer run.mu.Unlock()
	run.done = true
	// A response the guest left open when it ended by itself is closed as
	// if it had closed it; one cut by the run's stop failed.
	reason := ""
	if run.ctx.Err() != nil {
		reason = "stopped"
	}
	for h, r := range run.handles {
		run.end(r, reason, run.ctx.Err())
		delete(run.handles, h)
	}
	if run.tr != nil {
		run.tr.CloseIdleConnections()
	}
}

// end closes r's body and reports it, once. reason "" is a success.
func (run *outboundRun) end(r *outboundResp, reason string, err error) {
	if r.ended {
		return
	}
	r.ended = true
	r.resp.Body.Close()
	r.cancel()
	r.release()
	if reason != "" {
		r.ev.Outcome, r.ev.Reason, r.ev.Err = "failed", reason, err
	}
	r.ev.Duration = time.Since(r.start)
	run.emit(r.ev)
}

func (run *outboundRun) emit(ev Event) {
	if ev.Outcome == "" {
		ev.Outcome = "ok"
	}
	if run.observe != nil {
		run.observe(ev)
	}
}

func outboundState(ctx context.Context) *outboundRun {
	run, _ := ctx.Value(outboundKey{}).(*outboundRun)
	return run
}

// stopIfDone ends the guest when the run's context has ended while it was
// in a host call, as the engine's sleep does: the guest does not go on
// with an error code it would only retry.
func stopIfDone(ctx context.Context) {
	if ctx.Err() == nil {
		return
	}
	code := sys.ExitCodeContextCanceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		code = sys.ExitCodeDeadlineExceeded
	}
	panic(sys.NewExitError(code))
}

// guestBytes returns a copy of the guest's memory at ptr, len.
func guestBytes(mod api.Module, ptr, n uint32) ([]byte, uint32) {
	mem := mod.Memory()
	if mem == nil {
		return nil, httpMemoryNotFound
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, httpMemoryAccessError
	}
	return bytes.Clone(b), httpSuccess
}

func guestString(mod api.Module, ptr, n uint32) (string, uint32) {
	b, code := guestBytes(mod, ptr, n)
	if code != httpSuccess {
		return "", code
	}
	if !utf8.Valid(b) {
		return "", httpUTF8Error
	}
	return string(b), httpSuccess
}

// writeResult writes v as a little-endian u32 at ptr.
func writeResult(mod api.Module, ptr, v uint32) uint32 {
	mem := mod.Memory()
	if mem == nil {
		return httpMemoryNotFound
	}
	if !mem.WriteUint32Le(ptr, v) {
		return httpMemoryAccessError
	}
	return httpSuccess
}

// outboundReq: req(url, url_len, method, method_len, headers, headers_len,
// body, body_len, status_code_ptr (u16), handle_ptr (u32)) -> http_error.
func outboundReq(ctx context.Context, mod api.Module, stack []uint64) {
	run := outboundState(ctx)
	if run == nil {
		stack[0] = httpRuntimeError
		return
	}
	p := make([]uint32, 10)
	for i := range p {
		p[i] = uint32(stack[i])
	}
	code := run.req(ctx, mod, p)
	stopIfDone(ctx)
	stack[0] = uint64(code)
}

func (run *outboundRun) req(ctx context.Context, mod api.Module, p []uint32) uint32 {
	start := time.Now()
	ev := Event{}
	refuse := func(code uint32, reason string, err error) uint32 {
		ev.Outcome, ev.Reason, ev.Err, ev.Duration = "refused", reason, err, time.Since(start)
		run.emit(ev)
		return code
	}
	rawURL, code := guestString(mod, p[0], p[1])
	if code != httpSuccess {
		return refuse(code, "invalid", fmt.Errorf("url: %w", errBadURL))
	}
	method, code := guestString(mod, p[2], p[3])
	if code != httpSuccess {
		return refuse(code, "invalid", errors.New("method unreadable"))
	}
	ev.Method, ev.Host = method, hostOf(rawURL)
	run.mu.Lock()
	run.count++
	n := run.count
	run.mu.Unlock()
	max := 0 // no policy: nothing allowed, not even an attempt
	if run.policy != nil {
		max = run.policy.maxRequests
	}
	if n > max {
		return refuse(httpTooManySessions, "requests", fmt.Errorf("more than %d outbound requests in one run", max))
	}
	if !validMethod(method) {
		return refuse(httpInvalidMethod, "invalid", fmt.Errorf("method %q", method))
	}
	u, err := url.Parse(rawURL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return refuse(httpInvalidURL, "invalid", fmt.Errorf("%w: %q", errBadURL, rawURL))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if host, port, err := hostPort(u); err == nil {
		ev.Host = u.Scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
	}
	if err := run.policy.checkURL(u); err != nil || run.policy == nil {
		if err == nil {
			err = fmt.Errorf("%w: this route allows no outbound requests", errRefusedHost)
		}
		if errors.Is(err, errBadURL) {
			return refuse(httpInvalidURL, "invalid", err)
		}
		return refuse(httpDestinationNotAllow, "host", err)
	}
	rawHeaders, code := guestString(mod, p[4], p[5])
	if code != httpSuccess {
		return refuse(code, "invalid", errors.New("headers unreadable"))
	}
	header, err := parseGuestHeaders(rawHeaders)
	if err != nil {
		return refuse(httpInvalidEncoding, "invalid", err)
	}
	body, code := guestBytes(mod, p[6], p[7])
	if code != httpSuccess {
		return refuse(code, "invalid", errors.New("body unreadable"))
	}

	// The request lives until its body is read or closed, within the
	// run: the timeout covers reading the body too.
	rctx, cancel := context.WithTimeout(run.ctx, run.policy.timeout)
	if err := run.policy.acquire(rctx); err != nil {
		cancel()
		if run.ctx.Err() != nil {
			return refuse(httpRequestError, "stopped", err)
		}
		return refuse(httpTooManySessions, "concurrency", fmt.Errorf("tenant's outbound concurrency is used up: %w", err))
	}
	release := sync.OnceFunc(run.policy.release)
	req, err := http.NewRequestWithContext(rctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		cancel()
		release()
		return refuse(httpInvalidURL, "invalid", err)
	}
	req.Header = header
	resp, err := run.httpClient().Do(req)
	if err != nil {
		cancel()
		release()
		// url.Error repeats the URL, whose path and query may hold
		// secrets: the log names the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		reason, code := "upstream", uint32(httpRequestError)
		switch {
		case errors.Is(err, errRefusedHost):
			reason, code = "redirect", httpDestinationNotAllow
		case errors.Is(err, errRefusedAddress):
			reason, code = "address", httpDestinationNotAllow
		case run.ctx.Err() != nil:
			reason = "stopped"
		case errors.Is(err, context.DeadlineExceeded):
			reason = "timeout"
		}
		ev.Outcome, ev.Reason, ev.Err, ev.Duration = "failed", reason, err, time.Since(start)
		if code == httpDestinationNotAllow {
			ev.Outcome = "refused"
		}
		run.emit(ev)
		return code
	}
	ev.Status = resp.StatusCode
	r := &outboundResp{resp: resp, cancel: cancel, ev: ev, start: start, release: release}
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.done {
		run.end(r, "stopped", run.ctx.Err())
		return httpRequestError
	}
	run.next++
	h := run.next
	run.handles[h] = r
	mem := mod.Memory()
	if !mem.WriteUint16Le(p[8], uint16(resp.StatusCode)) || !mem.WriteUint32Le(p[9], h) {
		delete(run.handles, h)
		run.end(r, "invalid", errors.New("result pointers out of range"))
		return httpMemoryAccessError
	}
	return httpSuccess
}

// httpClient is the run's client, made on its first request: a transport
// of its own (closed by finish), no proxy from the environment, TLS with
// the system roots, every connection checked by the policy.
func (run *outboundRun) httpClient() *http.Client {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.client != nil {
		return run.client
	}
	pol := run.policy
	run.tr = &http.Transport{
		Proxy:                  nil,
		DialContext:            pol.dial,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    pol.timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    2,
	}
	run.client = &http.Client{
		Transport: run.tr,
		// Each hop of a redirect is checked against allowed_hosts again;
		// its connection goes through the same address check.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return pol.checkURL(req.URL)
		},
	}
	return run.client
}
