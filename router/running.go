package router

import (
	"net/http"
)

// running tells the Running hook (Options.Running) when an instance of
// the route starts and ends: inside the limiters, so it counts instances,
// not queued requests. A nil hook counts nothing.
func running(hook func(tenant, route string, delta int), tenant, route string) func(http.Handler) http.Handler {
	if hook == nil {
		return passThrough
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hook(tenant, route, 1)
			defer hook(tenant, route, -1)
			next.ServeHTTP(w, r)
		})
	}
}
