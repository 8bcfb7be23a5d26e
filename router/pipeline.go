package router

import (
	"net/http"
	"time"
)

// The request pipeline, outermost first. Every stage is a middleware
// shaped func(http.Handler) http.Handler, in the file named for it (a
// stage with parameters is a constructor returning that shape); the
// functions below put them in order, and are the only place that does.
//
//	serverChain, once per connection's request (NewServer):
//	  countFraming        framing.go        notes a request whose framing is ambiguous
//	  writeDeadline       writedeadline.go  each HTTP/1 response's write deadline
//	  Live                live.go           the site being served; a reload swaps it
//	siteChain, once per request (Build):
//	  accessLog           accesslog.go      request id, host.Info, the one log event, metrics
//	  withErrorPages      errorpages.go     the [errors] pages over the server's own errors
//	  -- an internal redirect (RFC 3875 6.2.2) re-enters here, as the same request --
//	  recoverer           recoverer.go      a panic is a 500 and an event
//	  refuseAmbiguous     framing.go        400 and close for what countFraming noted
//	  refuseHostMismatch  hostauthority.go  400 for an HTTP/2 host that is not :authority
//	  capRanges           ranges.go         drops a Range of more than MaxRanges ranges
//	  maxURI              maxuri.go         414 past max_uri
//	  hostRouter          tenant.go         the tenant by Host, else the default site
//	tenantChain, a tenant's site:
//	  tenantErrorPages    errorpages.go     the tenant's [errors] pages
//	  chi mux             routes.go         routeOtherMethods (methods.go); no route: 404
//	moduleRouteChain, a module route's pattern:
//	  tag                 tag.go            route and module into host.Info
//	  rateLimit           ratelimit.go      the tenant's rate: 429
//	  limit               concurrency.go    the tenant's slots, then the route's: 503
//	  running             running.go        the in-flight count
//	  host.Handler        host/handler.go   the CGI run of a guest instance
//	scriptsRouteChain, a scripts route: tag, rateLimit, limit (tenant), then
//	scriptsHandler (scripts.go) picks the script or a static file, and
//	scriptStages: limit (route) around the wait for its build, running
//	around its host.Handler.

// chain wraps h in mw, the first outermost: chain(h, a, b) is a(b(h)).
func chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// passThrough is the middleware of a stage that is not configured.
func passThrough(next http.Handler) http.Handler { return next }

// serverChain is the handler the http.Server calls: what holds for every
// request on the connection, whatever site serves it.
func serverChain(s Server, site http.Handler) http.Handler {
	return chain(site,
		countFraming,
		writeDeadline(time.Duration(s.WriteTimeout)),
	)
}

// siteChain is a site's handler around hosts (the tenants' router or the
// default site's mux), and hop, where an internal redirect routes afresh:
// below the access log, so that it stays one request with one id and one
// event, and below the error pages, so that it keeps the request's
// writer.
func siteChain(opts Options, srv Server, pages errorPages, hosts http.Handler) (site, hop http.Handler) {
	hop = chain(hosts,
		recoverer,
		refuseAmbiguous,
		refuseHostMismatch,
		capRanges,
		maxURI(int(srv.MaxURI)),
	)
	site = chain(hop,
		accessLog(opts.Log, newRequestIDs(), opts.Observe),
		withErrorPages(pages),
	)
	return site, hop
}

// tenantChain is a tenant's site, once hostRouter has chosen it.
func tenantChain(pages errorPages, mux http.Handler) http.Handler {
	return chain(mux,
		tenantErrorPages(pages),
	)
}

// moduleRouteChain is one pattern of a module route, around its CGI
// handler h: the tenant's limits before the route's own.
func moduleRouteChain(sc *scope, pattern, module string, lim Limits, h http.Handler) http.Handler {
	return chain(h,
		tag(pattern, module),
		rateLimit(sc.rate),
		limit(sc.slots),
		limit(newLimiter(lim.Concurrency, time.Duration(lim.QueueTimeout), "route")),
		running(sc.onRun, sc.tenant, pattern),
	)
}

// scriptsRouteChain is a scripts route around its handler, which picks
// the script and goes on with scriptStages.
func scriptsRouteChain(sc *scope, rt *Route, h http.Handler) http.Handler {
	return chain(h,
		tag(rt.Path, rt.Scripts+"/"),
		rateLimit(sc.rate),
		limit(sc.slots),
	)
}

// scriptStages are a scripts route's stages below its handler: serve
// waits for the script's build holding one of the route's slots (a slow
// build holds only its route's), and run counts the script's instance in
// flight around its CGI handler.
func scriptStages(s *scriptsHandler, sc *scope) (serve, run http.Handler) {
	serve = chain(http.HandlerFunc(s.serveScript),
		limit(s.limiter),
	)
	run = chain(http.HandlerFunc(s.runScript),
		running(sc.onRun, sc.tenant, s.rt.Path),
	)
	return serve, run
}

// reroute is where an internal redirect goes: the site's hop chain, set
// once the site is built (its routes need the redirect first).
type reroute struct{ hop http.Handler }

func (rr *reroute) ServeHTTP(w http.ResponseWriter, r *http.Request) { rr.hop.ServeHTTP(w, r) }
