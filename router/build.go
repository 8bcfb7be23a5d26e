package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
)

// Progress is told when a module starts and finishes loading, so a
// terminal can show that long compiles are under way.
type Progress interface {
	Start(name string, size int64)
	Done(name string, m Module, err error)
}

// Options are what Build needs besides the configuration.
type Options struct {
	Loader   Loader // compiles modules and builds sources (wasi/cgi.Loader)
	Log      zerolog.Logger
	Progress Progress // may be nil
	// Observe is called after each request, for metrics. May be nil.
	Observe func(r *http.Request, info *host.Info, status int, d time.Duration)
	// Running is told when a guest instance of a route starts (+1) and
	// ends (-1), for an in-flight gauge. May be nil.
	Running func(tenant, route string, delta int)
	// Outbound is told of each outbound HTTP request a guest made, by
	// host and outcome (ok, refused, failed), for metrics. May be nil.
	Outbound func(tenant, host, outcome string)
	// CacheDir is the cache folder the server uses, which no volume,
	// scripts folder or error page may reach; empty: cache_dir as
	// configured (config_paths.go).
	CacheDir string
}

// Site is a built configuration: the handler to serve and what it holds.
type Site struct {
	Handler http.Handler
	Routes  []RouteInfo
	Modules []Module

	background []prebuild                        // see Prebuild
	closers    []func()                          // see Close: scripts routes' modules
	apps       []func(context.Context) []AppInfo // see LoadApps
}

// Prebuild builds and compiles the scripts of every scripts route, so
// that their first requests are fast: one at a time within a tenant (the
// default site is one), the tenants side by side, each in its own build
// slots, so that a tenant whose scripts build slowly delays no other's.
// It returns when done or when ctx is; serve runs it in the background,
// compile waits for it. Failures are logged, not returned: the script's
// requests report them.
func (s *Site) Prebuild(ctx context.Context) {
	byScope := map[*scope][]func(context.Context){}
	var order []*scope
	for _, p := range s.background {
		if _, ok := byScope[p.scope]; !ok {
			order = append(order, p.scope)
		}
		byScope[p.scope] = append(byScope[p.scope], p.run)
	}
	var wg sync.WaitGroup
	for _, sc := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range byScope[sc] {
				f(ctx)
			}
		}()
	}
	wg.Wait()
}

// prebuild is a scripts route's prebuild and the scope it builds in.
type prebuild struct {
	scope *scope
	run   func(context.Context)
}

// RouteInfo describes a served route, for `wasigate routes`.
type RouteInfo struct {
	Tenant     string // empty for the default site
	Pattern    string
	Methods    []string
	Module     string
	Entrypoint string
	Limits     Limits
	// Snapshot says whether its instances start from a snapshot, or why
	// not; "" when the module is no reactor (issue 12).
	Snapshot string
	// Interpreters: a scripts route's interpreters, by extension, each
	// with its module and what Snapshot says of it.
	Interpreters []InterpreterInfo
}

// InterpreterInfo is an interpreter of a scripts route, for RouteInfo.
type InterpreterInfo struct {
	Ext, Module, Snapshot string
}

// Build compiles every module of cfg (in parallel, through the engine's
// cache) and returns the site. All problems are reported together, each
// naming the configuration file and the route.
func Build(ctx context.Context, cfg *Config, opts Options) (*Site, error) {
	if err := cfg.checkPaths(opts.cacheDirOf(cfg)); err != nil {
		return nil, err
	}
	srv := cfg.Server.Or(DefaultServer)
	defaults := cfg.Defaults.Or(DefaultLimits)

	// Interpreters (a 30 MB Ruby takes seconds to compile the first time)
	// load alongside the routes' modules.
	var interps map[string]*interpreter
	var interpErrs []error
	interpsDone := make(chan struct{})
	go func() {
		defer close(interpsDone)
		interps, interpErrs = loadInterpreters(ctx, cfg, opts)
	}()
	modules, errs := loadModules(ctx, cfg, opts)
	<-interpsDone
	errs = append(errs, interpErrs...)
	site := &Site{}
	for _, m := range modules {
		if m.mod != nil {
			site.Modules = append(site.Modules, m.mod)
		}
	}
	for _, in := range interps {
		if in.mod != nil {
			site.Modules = append(site.Modules, in.mod)
		}
	}

	// An internal redirect (RFC 3875 6.2.2) routes afresh through the
	// site's hop chain (siteChain), which exists once the routes do.
	redirect := &reroute{}

	parts := &siteParts{interps: interps, opts: opts}
	if err := parts.loadPages(cfg); err != nil {
		errs = append(errs, err)
	}
	sc := defaultScope(defaults, opts)
	sc.parts = parts
	mux, routes, rerrs := buildMux(ctx, cfg, cfg.AllRoutes()[:len(cfg.Routes)], sc, modules, srv, redirect)
	site.Routes, errs = append(site.Routes, routes...), append(errs, rerrs...)
	handler := http.Handler(mux)
	if len(cfg.Tenants) > 0 || len(cfg.TrustedProxies) > 0 {
		var terrs []error
		handler, routes, terrs = buildTenants(ctx, cfg, mux, defaults, parts, modules, srv, redirect)
		site.Routes, errs = append(site.Routes, routes...), append(errs, terrs...)
	}
	// A rejected reload must not keep what it compiled, nor the folders
	// (os.Root) it opened.
	site.closers = parts.closers
	if len(errs) > 0 {
		_ = site.Close(ctx)
		return nil, errors.Join(errs...)
	}

	site.background = parts.background
	site.apps = parts.apps
	site.Handler, redirect.hop = siteChain(opts, srv, parts.pages, handler)
	return site, nil
}

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

// warmSnapshots binds every module route once, in parallel (as many at
// once as there are CPUs), so that the snapshots the routes start from
// (issue 12) are taken or loaded from the cache side by side: a snapshot
// costs a second compile of the module, and one after the other they made
// a start with 50 Go routes several times slower. The programs are thrown
// away; the serial pass below binds the routes again, which then finds
// each module's snapshot ready, and reports the errors.
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
			_, _ = m.mod.Bind(RunConfig{Entrypoint: rt.Entrypoint, Volumes: volumes, MemoryLimit: uint64(lim.Memory), MaxOpenFiles: lim.MaxOpenFiles})
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
	snapshot string // RouteInfo.Snapshot
}

// routeHandlers binds a route to its module. A module exporting _routes
// (WAGI) adds one handler per sub-route it lists.
func routeHandlers(ctx context.Context, cfg *Config, rt *Route, mod Module, sc *scope, srv Server, redirect http.Handler) ([]routeHandler, error) {
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
		prog, err := mod.Bind(RunConfig{Entrypoint: e.entry, Volumes: volumes, MemoryLimit: uint64(lim.Memory), MaxOpenFiles: lim.MaxOpenFiles, Outbound: sc.outbound(rt),
			Reuse: lim.reuse(), ReuseMax: lim.Concurrency,
			NoSnapshot: rt.Snapshot != nil && !*rt.Snapshot})
		if err != nil {
			return nil, err
		}
		if s, ok := prog.(interface{ Snapshot() string }); ok {
			e.snapshot = s.Snapshot()
		}
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

// siteParts is what every scope of one site shares: the interpreters of
// scripts folders, the build options, and the work to run in the
// background once the site serves (prebuilding scripts).
type siteParts struct {
	interps    map[string]*interpreter
	opts       Options
	background []prebuild
	closers    []func()
	apps       []func(context.Context) []AppInfo // scripts routes' WSGI applications (wsgi.go)
	// pages are the server's error pages, nil when no [errors] table is
	// set anywhere; tenantPages a tenant's, over them.
	pages       errorPages
	tenantPages map[string]errorPages
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
func routeVolumes(cfg *Config, rt *Route) ([]Mount, string, error) {
	var vols []Mount
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
		vols = append(vols, Mount{Guest: g, Host: dir, Writable: v.Writable})
		if g == "/" {
			docRoot = "/"
		}
	}
	return vols, docRoot, nil
}

type loaded struct {
	mod Module
	err error
}

// loadModules builds and compiles each distinct module of cfg once, in
// parallel. Errors name every route that uses a broken module.
func loadModules(ctx context.Context, cfg *Config, opts Options) (map[string]*loaded, []error) {
	users := map[string][]*Route{}
	var order []string
	for _, rt := range cfg.AllRoutes() {
		if rt.Module == "" {
			continue
		}
		p := cfg.Abs(rt.Module)
		if _, ok := users[p]; !ok {
			order = append(order, p)
		}
		users[p] = append(users[p], rt)
	}
	out := make(map[string]*loaded, len(order))
	for _, p := range order {
		out[p] = &loaded{}
	}
	var wg sync.WaitGroup
	work := make(chan string)
	for range min(len(order), runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				out[p].mod, out[p].err = LoadModule(ctx, p, opts)
			}
		}()
	}
	for _, p := range order {
		work <- p
	}
	close(work)
	wg.Wait()

	var errs []error
	for _, p := range order {
		if err := out[p].err; err != nil {
			for _, rt := range users[p] {
				errs = append(errs, fmt.Errorf("%s: %s: module %s: %w", cfg.File, rt.where(), rt.Module, err))
			}
		}
	}
	return out, errs
}

// LoadModule builds (for a source) and compiles the module at path.
func LoadModule(ctx context.Context, path string, opts Options) (Module, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	name := path
	if opts.Progress != nil {
		opts.Progress.Start(name, st.Size())
	}
	mod, err := opts.Loader.Load(ctx, path)
	if opts.Progress != nil {
		opts.Progress.Done(name, mod, err)
	}
	return mod, err
}

type subRoute struct{ pattern, entry string }

// wagiSubRoutes runs a module's _routes export, which prints lines of
// "/path entrypoint" (WAGI); a path ending in /... is a prefix.
func wagiSubRoutes(ctx context.Context, mod Module, vols []Mount, lim Limits) ([]subRoute, error) {
	prog, err := mod.Bind(RunConfig{Entrypoint: "_routes", Volumes: vols, MemoryLimit: uint64(lim.Memory), MaxOpenFiles: lim.MaxOpenFiles})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, time.Duration(lim.Timeout))
	defer cancel()
	if err := prog.Run(ctx, &host.Invocation{Args: []string{"_routes"}, Stdout: &limitedBuffer{buf: &out, max: 1 << 20}}); err != nil {
		return nil, fmt.Errorf("_routes: %w", err)
	}
	subs, err := parseWAGIRoutes(out.String())
	if err != nil {
		return nil, err
	}
	return subs, nil // in the module's order: the last match wins (lastMatchWins)
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, errors.New("output too large")
	}
	return l.buf.Write(p)
}
