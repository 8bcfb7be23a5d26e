package router

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
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
			ctx := newRequestCtx(l.WithContext(r.Context()))
			info := &ctx.Info
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
