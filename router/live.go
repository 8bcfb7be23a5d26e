package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host/seam"
)

// Close releases the site's compiled modules. Call it only once no request
// runs on the site any more: Live does so after a swap.
func (s *Site) Close(ctx context.Context) error {
	var errs []error
	for _, c := range s.closers {
		c()
	}
	for _, m := range s.Modules {
		errs = append(errs, m.Close(ctx))
	}
	return errors.Join(errs...)
}

// Live is the handler in front of the server: it serves the current Site
// and lets a new one be swapped in atomically while requests run. A
// request stays on the site it started on, internal redirects included;
// the replaced site's modules are closed once its last request has ended.
// The zero Live answers 503 until a site is swapped in.
type Live struct {
	cur atomic.Pointer[liveSite]
	mu  sync.Mutex // serialises Swap
	// Retired, if set, is called (in its own goroutine) with each replaced
	// site once its requests have drained and its modules are closed.
	Retired func(s *Site, drain time.Duration)
}

// liveSite counts the requests on one site so that its modules are closed
// only after the last one.
type liveSite struct {
	site    *Site
	refs    atomic.Int64
	retired atomic.Bool
	once    sync.Once
	drained chan struct{}
}

func (ls *liveSite) release() {
	if ls.refs.Add(-1) == 0 && ls.retired.Load() {
		ls.once.Do(func() { close(ls.drained) })
	}
}

// acquire returns the current site with a reference held, or nil.
func (l *Live) acquire() *liveSite {
	for {
		ls := l.cur.Load()
		if ls == nil {
			return nil
		}
		ls.refs.Add(1)
		if !ls.retired.Load() {
			return ls
		}
		// Swapped out between the load and the increment: its modules may
		// be closing. Take the new one.
		ls.release()
	}
}

// ServeHTTP implements http.Handler.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ls := l.acquire()
	if ls == nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "starting up", http.StatusServiceUnavailable)
		return
	}
	defer ls.release()
	ls.site.Handler.ServeHTTP(w, r)
}

// Site returns the site being served, or nil before the first Swap.
func (l *Live) Site() *Site {
	if ls := l.cur.Load(); ls != nil {
		return ls.site
	}
	return nil
}

// Swap makes s the site new requests go to. The previous site finishes
// the requests it has, then its modules are closed in the background.
func (l *Live) Swap(s *Site) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := &liveSite{site: s, drained: make(chan struct{})}
	old := l.cur.Swap(next)
	if old == nil {
		return
	}
	start := time.Now()
	old.retired.Store(true)
	if old.refs.Load() == 0 {
		old.once.Do(func() { close(old.drained) })
	}
	go func() {
		<-old.drained
		_ = old.site.Close(context.Background())
		if l.Retired != nil {
			l.Retired(old.site, time.Since(start))
		}
	}()
}

// Reloader rebuilds the site from the configuration file and swaps it into
// Live. A configuration or module that fails to load is rejected with a log
// event naming the file and the route; the current site keeps serving.
type Reloader struct {
	Path    string  // the configuration file
	Options Options // as for Build; Log receives the reload events
	Live    *Live
	// Loaded, if set, is told of every attempt: the new site or the error.
	Loaded func(s *Site, cfg *Config, err error)
	// Prebuilt, if set, is called once a loaded site's scripts folders
	// are built (Site.Prebuild), when compiling is over for a while.
	Prebuilt func()

	mu  sync.Mutex
	cfg *Config
}

// Config returns the configuration being served, or nil.
func (rl *Reloader) Config() *Config {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.cfg
}

// Reload loads the configuration, builds the new site (modules compiled
// through the engine's cache, in the background of the serving one) and
// swaps it in. Reloads run one at a time.
func (rl *Reloader) Reload(ctx context.Context, why string) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	log := rl.Options.Log
	start := time.Now()
	cfg, err := LoadConfig(rl.Path)
	var site *Site
	if err == nil {
		site, err = Build(ctx, cfg, rl.Options)
	}
	if rl.Loaded != nil {
		rl.Loaded(site, cfg, err)
	}
	if err != nil {
		ev := log.Error().Str("config", rl.Path).Str("trigger", why)
		if rl.Live.Site() != nil {
			ev.Strs("errors", ErrorLines(err)).Msg("reload rejected; the previous site keeps serving")
		} else {
			ev.Strs("errors", ErrorLines(err)).Msg("site failed to load")
		}
		return err
	}
	if rl.cfg != nil {
		warnRestartOnly(log, rl.cfg, cfg)
	}
	rl.cfg = cfg
	rl.Live.Swap(site)
	// Scripts folders are built in the background so that their first
	// requests are fast; serving does not wait for it.
	go func() {
		site.Prebuild(ctx)
		if rl.Prebuilt != nil && ctx.Err() == nil {
			rl.Prebuilt()
		}
	}()
	LogSnapshots(log, site.Routes)
	log.Info().Str("config", rl.Path).Str("trigger", why).Int("routes", len(site.Routes)).
		Int("modules", len(site.Modules)).Int("tenants", len(cfg.Tenants)).
		Dur("build", time.Since(start)).Msg("site ready")
	return nil
}

// LogSnapshots logs, as serve does at start, for each route of a reactor
// module, whether its instances start from a snapshot of its init, or why
// not: one event per route, a warning when a snapshot was refused, since
// that route then runs its init on every request.
func LogSnapshots(log zerolog.Logger, routes []RouteInfo) {
	for _, r := range routes {
		logSnapshot(log, r.Pattern, r.Module, r.Snapshot)
		for _, in := range r.Interpreters {
			logSnapshot(log, r.Pattern, in.Module, in.Snapshot)
		}
	}
}

func logSnapshot(log zerolog.Logger, route, module string, snapshot seam.Snapshot) {
	switch {
	case snapshot.Refused():
		log.Warn().Str("route", route).Str("module", module).Str("reason", snapshot.String()).Msg("snapshot refused; the init runs in every request")
	case snapshot.String() != "":
		log.Info().Str("route", route).Str("module", module).Str("snapshot", snapshot.String()).Msg("snapshot")
	}
}

// warnRestartOnly tells of changed settings a reload cannot apply.
func warnRestartOnly(log zerolog.Logger, old, cfg *Config) {
	for _, c := range []struct {
		key      string
		was, now string
	}{
		{"listen", old.Listen, cfg.Listen},
		{"admin_listen", old.AdminListen, cfg.AdminListen},
		{"cache_dir", old.CacheDir, cfg.CacheDir},
		{"server.max_module_size", fmt.Sprint(old.Server.MaxModuleSize), fmt.Sprint(cfg.Server.MaxModuleSize)},
		{"server.cache_max_size", fmt.Sprint(old.Server.CacheMaxSize), fmt.Sprint(cfg.Server.CacheMaxSize)},
	} {
		if c.was != c.now {
			log.Warn().Str("key", c.key).Str("was", c.was).Str("now", c.now).Msg("changed setting takes effect after a restart")
		}
	}
}
