package router

import (
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
						info.Reason = "aborted"
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
					ev = ev.Str("reason", info.Reason)
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
			info.Reason = "panic"
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
				host.InfoFrom(r.Context()).Reason = "uri"
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
		select {
		case l.slots <- struct{}{}:
		default:
			start := time.Now()
			t := time.NewTimer(l.wait)
			select {
			case l.slots <- struct{}{}:
				t.Stop()
				host.InfoFrom(r.Context()).QueueWait += time.Since(start)
			case <-t.C:
				// The access log event says why: one event per request.
				info := host.InfoFrom(r.Context())
				info.Reason = "concurrency"
				info.Err = fmt.Errorf("no free %s slot (concurrency %d) within %v", l.what, cap(l.slots), l.wait)
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(l.wait/time.Second))))
				http.Error(w, "server busy, retry later", http.StatusServiceUnavailable)
				return
			case <-r.Context().Done():
				t.Stop()
				host.InfoFrom(r.Context()).Status = 499 // gone while queued
				return
			}
		}
		defer func() { <-l.slots }()
		next.ServeHTTP(w, r)
	})
}
