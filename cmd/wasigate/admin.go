package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/router/metrics"
)

// adminHandler serves the operator's endpoints, on the admin listener only
// (never the public one):
//
//	/metrics        Prometheus text format
//	/healthz        200 while the process runs (liveness)
//	/readyz         200 once a site is built and served, 503 before (readiness)
//	/debug/pprof/   net/http/pprof, only with pprof = true
func adminHandler(live *router.Live, m *metrics.Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// A rejected reload leaves the previous site serving: still ready.
		site := live.Site()
		if site == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: modules are loading")
			return
		}
		fmt.Fprintf(w, "ready: %d routes, %d modules\n", len(site.Routes), len(site.Modules))
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// startAdmin serves h on addr until ctx is done. It returns the address
// it listens on.
func startAdmin(ctx context.Context, addr string, h http.Handler, log zerolog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin_listen: %w", err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: httpErrorLog(log)}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("admin listener stopped")
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	log.Info().Str("addr", "http://"+ln.Addr().String()+"/").Msg("admin listener: /metrics /healthz /readyz")
	return ln.Addr(), nil
}
