package router

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// otherMethod stands, in chi's routing, for every method chi does not know
// (PROPFIND, MKCOL, REPORT...). chi answers those with an empty 405 before
// any route is looked at; CGI has no such list (RFC 3875 4.1.12: the
// method is the script's to judge), so a route without `methods` must get
// them. Registered once, before any router exists: chi adds it to the set
// a route without methods is registered for, and a route with `methods`
// never lists it, so it still answers them 405.
const otherMethod = "WASIGATE-OTHER-METHOD"

func init() { chi.RegisterMethod(otherMethod) }

// chiMethods are the methods chi routes by their own name.
var chiMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true, otherMethod: true,
}

// routeOtherMethods is chi middleware (it runs before chi's routing, with
// its routing context) that routes a method chi does not know as
// otherMethod; the request keeps its own method for the guest.
func routeOtherMethods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !chiMethods[r.Method] {
			if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RouteMethod == "" {
				rctx.RouteMethod = otherMethod
			}
		}
		next.ServeHTTP(w, r)
	})
}
