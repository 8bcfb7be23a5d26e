package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
)

// requestIDs makes ids like "3f9a1c2e-000042": a random prefix per process
// and a counter, cheap and unique in the logs. An id sent by the client is
// never trusted.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

func (g *requestIDs) next() string {
	// One allocation, where fmt.Sprintf took two and its formatting state.
	var b [40]byte
	id := append(b[:0], g.prefix...)
	id = append(id, '-')
	var d [20]byte
	n := strconv.AppendUint(d[:0], g.n.Add(1), 10)
	for range 6 - len(n) {
		id = append(id, '0')
	}
	return string(append(id, n...))
}

// accessLog is the outermost middleware: it gives each request an id, a
// logger carrying that id, a host.Info, and writes one access log event
// when the request ends, with what the handler recorded.
func accessLog(log zerolog.Logger, ids *requestIDs, observe func(r *http.Request, info *host.Info, status int, d time.Duration)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := ids.next()
			w.Header().Set("X-Request-Id", id)
			l := log.With().Str("request_id", id).Logger()
			ctx, info := host.WithInfo(l.WithContext(r.Context()))
			ctx = withHeldSlots(ctx)
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			defer func() {
				status := ww.Status()
				if info.Status == 499 {
					status = 499
				}
				if status == 0 {
					status = http.StatusOK
				}
				d := time.Since(start)
				aborted := recover()
				if aborted != nil {
					if info.Reason == "" {
						info.Reason = host.ReasonAborted
					}
				}
				// One event per request; a failed one is that request's
				// error event, carrying the reason and the error.
				ev := l.Info()
				switch {
				case status >= 500 || aborted != nil:
					ev = l.Error()
				case info.Reason != "":
					ev = l.Warn()
				}
				ev = ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).
					Int("bytes", ww.BytesWritten()).Dur("duration", d)
				if info.Route != "" {
					ev = ev.Str("route", info.Route).Str("module", info.Module).Dur("instantiate", info.Instantiate)
				}
				if info.Tenant != "" {
					ev = ev.Str("tenant", info.Tenant)
				}
				if info.Redirects > 0 {
					ev = ev.Int("redirects", info.Redirects)
				}
				if info.StderrDroppedLines > 0 || info.StderrDroppedBytes > 0 {
					ev = ev.Int("stderr_dropped_lines", info.StderrDroppedLines).Int("stderr_dropped_bytes", info.StderrDroppedBytes)
				}
				if info.Reason != "" {
					ev = ev.Str("reason", string(info.Reason))
				}
				if info.Err != nil {
					ev = ev.AnErr("error", info.Err)
				}
				if aborted != nil {
					ev = ev.Bool("aborted", true)
				}
				ev.Msg("request")
				if observe != nil {
					observe(r, info, status, d)
				}
				if aborted != nil {
					panic(aborted) // let net/http abort the connection
				}
			}()
			next.ServeHTTP(ww, r.WithContext(ctx))
		})
	}
}

// recoverer turns a panic in a handler into a 500 and a log event with the
// stack. http.ErrAbortHandler, the deliberate way to abort a response that
// has started, passes through.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			info := host.InfoFrom(r.Context())
			info.Reason = host.ReasonPanic
			zerolog.Ctx(r.Context()).Error().Str("route", info.Route).Str("module", info.Module).
				Interface("panic", rec).Bytes("stack", debug.Stack()).Msg("handler panicked")
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

// maxURI answers 414 for a request target longer than n bytes.
func maxURI(n int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.RequestURI) > n {
				host.InfoFrom(r.Context()).Reason = host.ReasonURI
				http.Error(w, http.StatusText(http.StatusRequestURITooLong), http.StatusRequestURITooLong)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// limiter bounds the instances of a route (or a tenant) running at once.
// A request that finds no free slot waits up to wait, then gets 503 with
// Retry-After.
type limiter struct {
	slots chan struct{}
	wait  time.Duration
	what  string // "route" or "tenant", for the log
}

func newLimiter(n int, wait time.Duration, what string) *limiter {
	return &limiter{slots: make(chan struct{}, n), wait: wait, what: what}
}

func (l *limiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := heldSlotsFrom(r.Context())
		if held.holds(l) {
			// An internal redirect back to a route (or tenant) whose slot
			// the request holds: one request is one slot (issue 9).
			next.ServeHTTP(w, r)
			return
		}
		// A hop to another route gives back the slot of the route it
		// leaves, whose run is over, before queueing for this one: never
		// two slots of one kind held, never a wait while holding one.
		held.release(l.what)
		if !l.acquire(w, r) {
			return
		}
		held.add(l)
		defer held.drop(l)
		next.ServeHTTP(w, r)
	})
}

// acquire takes a slot, waiting up to l.wait; false means the request has
// been answered (503) or its client left.
func (l *limiter) acquire(w http.ResponseWriter, r *http.Request) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	start := time.Now()
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		host.InfoFrom(r.Context()).QueueWait += time.Since(start)
		return true
	case <-t.C:
		// The access log event says why: one event per request.
		info := host.InfoFrom(r.Context())
		info.Reason = host.ReasonConcurrency
		info.Err = fmt.Errorf("no free %s slot (concurrency %d) within %v", l.what, cap(l.slots), l.wait)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(l.wait/time.Second))))
		http.Error(w, "server busy, retry later", http.StatusServiceUnavailable)
		return false
	case <-r.Context().Done():
		host.InfoFrom(r.Context()).Status = 499 // gone while queued
		return false
	}
}

// heldSlots are the limiter slots one request holds (a tenant's and a
// route's at most), kept in its context so that its internal redirects,
// which route afresh below the access log, find them. A request's hops
// run one inside the other on its goroutine: no lock. It is the context
// that carries it, one allocation per request rather than two.
type heldSlots struct {
	context.Context
	slots []*limiter
	buf   [2]*limiter
}

type heldKey struct{}

func withHeldSlots(ctx context.Context) context.Context {
	h := &heldSlots{Context: ctx}
	h.slots = h.buf[:0]
	return h
}

// Value implements context.Context.
func (h *heldSlots) Value(key any) any {
	if key == (heldKey{}) {
		return h
	}
	return h.Context.Value(key)
}

// heldSlotsFrom returns the request's held slots; nil (a request served
// without the access log) holds none and keeps none.
func heldSlotsFrom(ctx context.Context) *heldSlots {
	h, _ := ctx.Value(heldKey{}).(*heldSlots)
	return h
}

func (h *heldSlots) holds(l *limiter) bool {
	if h == nil {
		return false
	}
	for _, s := range h.slots {
		if s == l {
			return true
		}
	}
	return false
}

func (h *heldSlots) add(l *limiter) {
	if h != nil {
		h.slots = append(h.slots, l)
	}
}

// release gives back the slots of kind what the request holds.
func (h *heldSlots) release(what string) {
	if h == nil {
		return
	}
	kept := h.slots[:0]
	for _, s := range h.slots {
		if s.what == what {
			<-s.slots
			continue
		}
		kept = append(kept, s)
	}
	clear(h.slots[len(kept):])
	h.slots = kept
}

// drop gives back l's slot if the request still holds it (a later hop may
// have released it already).
func (h *heldSlots) drop(l *limiter) {
	if h == nil {
		<-l.slots
		return
	}
	for i, s := range h.slots {
		if s == l {
			<-l.slots
			h.slots = append(h.slots[:i], h.slots[i+1:]...)
			return
		}
	}
}
