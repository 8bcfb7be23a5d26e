package router

import (
	"net/http"

	"github.com/wasigate/wasigate/host"
)

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
