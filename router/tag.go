package router

import (
	"net/http"

	"github.com/wasigate/wasigate/host"
)

// tag records the route and module in the request's Info before any
// route middleware runs, so their log events name them.
func tag(route, module string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := host.InfoFrom(r.Context())
			info.Route, info.Module = route, module
			next.ServeHTTP(w, r)
		})
	}
}
