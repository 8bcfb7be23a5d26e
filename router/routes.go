package router

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// buildMux makes the chi router of one site: the default site's routes or
// one tenant's.
func buildMux(ctx context.Context, cfg *Config, routes []*Route, sc *scope, modules map[string]*loaded, srv Server, redirect http.Handler) (*chi.Mux, []RouteInfo, []error) {
	mux := chi.NewRouter()
	mux.Use(routeOtherMethods)
	others := otherRoutes{}
	var infos []RouteInfo
	var errs []error
	warmSnapshots(cfg, routes, sc, modules)
	for _, rt := range routes {
		if rt.Scripts != "" {
			h, err := newScriptsHandler(cfg, rt, sc, srv, redirect)
			if err != nil {
				errs = append(errs, routeErrors(cfg, rt, err)...)
				continue
			}
			mount(mux, others, rt.Path, rt.Methods, scriptsRouteChain(sc, rt, h))
			infos = append(infos, RouteInfo{
				Tenant: rt.Tenant, Pattern: rt.Path, Methods: rt.Methods, Module: rt.Scripts + "/",
				Entrypoint: "(scripts)", Limits: sc.limits(rt), Interpreters: h.interpInfo,
			})
			sc.parts.background = append(sc.parts.background, prebuild{scope: sc, run: h.prebuild})
			sc.parts.closers = append(sc.parts.closers, h.close)
			sc.parts.apps = append(sc.parts.apps, h.loadApps)
			continue
		}
		m := modules[cfg.Abs(rt.Module)]
		if m == nil || m.err != nil {
			continue // reported by loadModules
		}
		handlers, err := routeHandlers(ctx, cfg, rt, m.mod, sc, srv, redirect)
		if err != nil {
			errs = append(errs, routeErrors(cfg, rt, err)...)
			continue
		}
		for _, rh := range handlers {
			mount(mux, others, rh.pattern, rt.Methods, rh.handler)
			infos = append(infos, RouteInfo{
				Tenant: rt.Tenant, Pattern: rh.pattern, Methods: rt.Methods, Module: rt.Module,
				Entrypoint: rh.entry, Limits: sc.limits(rt), Snapshot: rh.snapshot,
			})
		}
	}
	mux.NotFound(noRoute)
	return mux, infos, errs
}

// noRoute answers a path no route of the site serves.
func noRoute(w http.ResponseWriter, r *http.Request) {
	host.InfoFrom(r.Context()).Reason = host.ReasonNoRoute
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// warmSnapshots binds every module route once, in parallel (as many at once
// as there are CPUs), so that the snapshots the routes start from
// (cmd/wasigate/DECISIONS.md#snapshots-are-cached-and-signed) are taken or
// loaded from the cache side by side: a snapshot costs a second compile of
// the module, and one after the other they made a start with 50 Go routes
// several times slower. The programs are thrown away; the serial pass below
// binds the routes again, which then finds each module's snapshot ready,
// and reports the errors.
func warmSnapshots(cfg *Config, routes []*Route, sc *scope, modules map[string]*loaded) {
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for _, rt := range routes {
		m := modules[cfg.Abs(rt.Module)]
		if rt.Scripts != "" || m == nil || m.err != nil || (rt.Snapshot != nil && !*rt.Snapshot) {
			continue
		}
		volumes, _, err := routeVolumes(cfg, rt)
		if err != nil {
			continue
		}
		lim := sc.limits(rt)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, _ = m.mod.Bind(seam.RunConfig{Entrypoint: rt.Entrypoint, Volumes: volumes, MemoryLimit: uint64(lim.Memory), MaxOpenFiles: lim.MaxOpenFiles})
		}()
	}
	wg.Wait()
}

// routeErrors names the file and the route in each of err's errors (a
// module can fail Check for several reasons), so that each printed line
// says where it comes from.
func routeErrors(cfg *Config, rt *Route, err error) []error {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = append([]error(nil), j.Unwrap()...)
	}
	for i, e := range list {
		list[i] = fmt.Errorf("%s: route #%d %q: %w", cfg.File, rt.Index, rt.Path, e)
	}
	return list
}

// otherRoutes are, by pattern, the handlers of the methods chi does not
// know, by method: one pattern has one otherMethod slot in chi, which
// every route on it listing such methods shares.
type otherRoutes map[string]map[string]http.Handler

// mount registers h for pattern; a prefix pattern /x/* also serves /x.
func mount(mux chi.Router, others otherRoutes, pattern string, methods []string, h http.Handler) {
	patterns := []string{pattern}
	if p, ok := strings.CutSuffix(pattern, "/*"); ok && p != "" {
		patterns = append(patterns, p)
	}
	for _, p := range patterns {
		if len(methods) == 0 {
			mux.Handle(p, h)
			continue
		}
		// chi panics on a method it does not know (PROPFIND, REPORT):
		// those are routed as otherMethod, and the route answers only the
		// ones it lists.
		other := others[p]
		for _, m := range methods {
			if chiMethods[m] {
				mux.Method(m, p, h)
				continue
			}
			if other == nil {
				other = map[string]http.Handler{}
				others[p] = other
				mux.Method(otherMethod, p, byMethod(other))
			}
			other[m] = h
		}
	}
}

// byMethod passes a request to the handler of its method and answers the
// rest 405.
func byMethod(handlers map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := handlers[r.Method]
		if h == nil {
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

type routeHandler struct {
	pattern  string
	entry    string
	handler  http.Handler
	snapshot seam.Snapshot // RouteInfo.Snapshot
}

// routeHandlers binds a route to its module. A module exporting _routes
// (WAGI) adds one handler per sub-route it lists.
func routeHandlers(ctx context.Context, cfg *Config, rt *Route, mod seam.Module, sc *scope, srv Server, redirect http.Handler) ([]routeHandler, error) {
	lim := sc.limits(rt)
	volumes, docRoot, err := routeVolumes(cfg, rt)
	if err != nil {
		return nil, err
	}
	entries := []routeHandler{{pattern: rt.Path, entry: rt.Entrypoint}}
	if mod.HasExport("_routes") {
		sub, err := wagiSubRoutes(ctx, mod, volumes, lim)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", rt.Module, err)
		}
		base := strings.TrimSuffix(strings.TrimSuffix(rt.Path, "/*"), "/")
		for _, s := range sub {
			if err := chiPattern(base + s.pattern); err != nil {
				return nil, fmt.Errorf("module %s: _routes: %w: path %s: %v", rt.Module, ErrRoutesAnswer, base+s.pattern, err)
			}
			entries = append(entries, routeHandler{pattern: base + s.pattern, entry: s.entry})
		}
	}
	env := routeEnv(sc.env(rt))
	sendfile, err := sc.sendfile(rt, volumes)
	if err != nil {
		return nil, err
	}
	var out []routeHandler
	for _, e := range entries {
		prog, err := mod.Bind(seam.RunConfig{Entrypoint: e.entry, Volumes: volumes, MemoryLimit: uint64(lim.Memory), MaxOpenFiles: lim.MaxOpenFiles, Outbound: sc.outbound(rt),
			Reuse: lim.reuse(), ReuseMax: lim.Concurrency,
			NoSnapshot: rt.Snapshot != nil && !*rt.Snapshot})
		if err != nil {
			return nil, err
		}
		e.snapshot = prog.Snapshot()
		h := newHostHandler(rt, e.pattern, env, docRoot, lim, srv, redirect)
		h.Runner = prog
		h.Sendfile = sendfile
		if p, ok := strings.CutSuffix(e.pattern, "/*"); ok {
			h.Root = p
		} else {
			h.Exact = true
		}
		e.entry = prog.Entrypoint()
		e.handler = moduleRouteChain(sc, e.pattern, rt.Module, lim, h)
		out = append(out, e)
	}
	if len(out) > 1 {
		out = lastMatchWins(out)
	}
	return out, nil
}

// routeEnv is a route's env as sorted KEY=value pairs.
func routeEnv(m map[string]string) []string {
	var env []string
	for _, k := range sortedKeys(m) {
		env = append(env, k+"="+m[k])
	}
	return env
}

// newHostHandler is the CGI handler of one pattern of a route, with its
// limits; the caller sets Runner, and Root or Exact.
func newHostHandler(rt *Route, pattern string, env []string, docRoot string, lim Limits, srv Server, redirect http.Handler) *host.Handler {
	matched := ""
	if rt.wagi {
		matched = wagiSpelling(pattern)
	}
	return &host.Handler{
		MatchedRoute:        matched,
		Route:               pattern,
		Module:              rt.Module,
		Env:                 env,
		Argv:                rt.Argv,
		DocumentRoot:        docRoot,
		PassAuthorization:   rt.PassAuthorization,
		Timeout:             time.Duration(lim.Timeout),
		MaxBody:             int64(lim.MaxBody),
		MaxOutput:           int64(lim.MaxOutput),
		MaxHeaderBytes:      int(srv.MaxCGIHeader),
		ReadTimeout:         time.Duration(srv.ReadTimeout),
		WriteTimeout:        time.Duration(srv.WriteTimeout),
		PathLocationHandler: redirect,
		ShowErrors:          rt.ShowErrors,
	}
}

// routeVolumes resolves a route's volumes against the configuration's
// folder. The volume mounted at / (if any) is the document root that
// PATH_TRANSLATED refers to.
func routeVolumes(cfg *Config, rt *Route) ([]seam.Mount, string, error) {
	var vols []seam.Mount
	docRoot := ""
	for _, g := range sortedKeys(rt.Volumes) {
		v := rt.Volumes[g]
		dir := cfg.Abs(v.Path)
		st, err := os.Stat(dir)
		if err != nil {
			return nil, "", fmt.Errorf("volume %s: %w", g, err)
		}
		if !st.IsDir() {
			return nil, "", fmt.Errorf("volume %s: %s is not a folder", g, dir)
		}
		vols = append(vols, seam.Mount{Guest: g, Host: dir, Writable: v.Writable})
		if g == "/" {
			docRoot = "/"
		}
	}
	return vols, docRoot, nil
}
