package router

import (
	"net/http"
	"time"
)

// NewServer returns the http.Server that serves handler with the
// server-wide bounds of s (zero fields take DefaultServer's): how long a
// client may take to send its headers (slowloris), how long an idle
// keep-alive connection stays open, and how large the request line and
// headers may be (net/http answers 431 beyond it). Both `wasigate serve`
// and the tests use it, so the tests exercise the real settings.
func NewServer(s Server, handler http.Handler) *http.Server {
	s = s.Or(DefaultServer)
	return &http.Server{
		Handler:           countFraming(handler),
		ConnContext:       framingContext,
		ReadHeaderTimeout: time.Duration(s.ReadHeaderTimeout),
		IdleTimeout:       time.Duration(s.IdleTimeout),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
	}
}
