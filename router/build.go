package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// Progress is told when a module starts and finishes loading, so a
// terminal can show that long compiles are under way.
type Progress interface {
	Start(name string, size int64)
	Done(name string, m seam.Module, err error)
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
	Modules []seam.Module

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
	// not; "" when the module is no reactor.
	Snapshot seam.Snapshot
	// Interpreters: a scripts route's interpreters, by extension, each
	// with its module and what Snapshot says of it.
	Interpreters []InterpreterInfo
}

// InterpreterInfo is an interpreter of a scripts route, for RouteInfo.
type InterpreterInfo struct {
	Ext, Module string
	Snapshot    seam.Snapshot
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

type loaded struct {
	mod seam.Module
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
func LoadModule(ctx context.Context, path string, opts Options) (seam.Module, error) {
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
