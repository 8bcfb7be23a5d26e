package router

import (
	"net/http"
	"time"
)

// writeDeadline gives each HTTP/1 request's response d to be written, the
// bound of responses the CGI handler does not write (404, 503, 414). An
// HTTP/2 stream starts without a deadline, and one set here would reset a
// long run's stream: the CGI handler sets its own around each write.
func writeDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 1 {
				_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
			}
			next.ServeHTTP(w, r)
		})
	}
}
