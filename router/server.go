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
//
// read_timeout and write_timeout are not http.Server's ReadTimeout and
// WriteTimeout, which bound a whole exchange and would cut a long streaming
// response: the CGI handler applies them to the body and to each write
// (host.Handler). Here, each HTTP/1 request starts with a fresh write
// deadline, since the connection keeps the one the previous request on it
// left (cmd/wasigate/DECISIONS.md#time-blocked-on-the-client-counts).
func NewServer(s Server, handler http.Handler) *http.Server {
	s = s.Or(DefaultServer)
	return &http.Server{
		Handler:           serverChain(s, handler),
		ConnContext:       framingContext,
		ReadHeaderTimeout: time.Duration(s.ReadHeaderTimeout),
		IdleTimeout:       time.Duration(s.IdleTimeout),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
	}
}
