package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/router/metrics"
)

// reloadDebounce is how long the watched files must be quiet before a
// reload: a deploy that copies several modules reloads once, and a file
// being written is not read half-way.
var reloadDebounce = 300 * time.Millisecond

// ops is what serve runs besides the public listener: the live site and
// its reloader, metrics, the admin listener and TLS certificates.
type ops struct {
	live    *router.Live
	rl      *router.Reloader
	metrics *metrics.Metrics
	certs   *certificate // nil without TLS
	admin   net.Addr     // nil without admin_listen
	log     zerolog.Logger
}

// startOps starts the admin listener (so that /healthz answers while
// modules compile and /readyz says when they are done), loads the site,
// and from then on reloads it on SIGHUP and when the configuration file
// or a module changes, until ctx is done.
func startOps(ctx context.Context, s *setup, stderr io.Writer) (*ops, error) {
	o := &ops{live: &router.Live{}, metrics: metrics.New(), log: s.log}
	o.live.Retired = func(site *router.Site, drain time.Duration) {
		s.log.Info().Int("modules", len(site.Modules)).Dur("drain", drain).Msg("previous site drained; its modules released")
	}
	cfg := s.cfg
	if cfg.AdminListen != "" {
		addr, err := startAdmin(ctx, cfg.AdminListen, adminHandler(o.live, o.metrics, cfg.Pprof), s.log)
		if err != nil {
			return nil, err
		}
		o.admin = addr
	}
	if cfg.TLSCert != "" {
		o.certs = &certificate{cert: cfg.Abs(cfg.TLSCert), key: cfg.Abs(cfg.TLSKey)}
		if err := o.certs.load(); err != nil {
			return nil, err
		}
	}
	opts := s.options(stderr)
	opts.Observe = o.metrics.Observe
	opts.Running = o.metrics.Running
	opts.Outbound = o.metrics.Outbound
	o.rl = &router.Reloader{
		Path:    cfg.File,
		Options: opts,
		Live:    o.live,
		Loaded: func(site *router.Site, _ *router.Config, err error) {
			if err != nil {
				o.metrics.Loaded(false, nil)
				return
			}
			cached := make([]bool, len(site.Modules))
			for i, m := range site.Modules {
				cached[i] = m.Info().Cached
			}
			o.metrics.Loaded(true, cached)
		},
		// Compiling leaves hundreds of MiB of garbage (decoded modules,
		// the compiler's scratch, rewritten bytes) that the runtime would
		// keep mapped until the heap grew to it again: give it back once
		// a load and its scripts' builds are done.
		Prebuilt: debug.FreeOSMemory,
	}
	if err := o.rl.Reload(ctx, "start"); err != nil {
		return nil, err
	}
	// Later loads show no progress lines: they run behind a serving site.
	o.rl.Options.Progress = nil
	// Registered before serving: an unhandled SIGHUP ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	// The folders are watched before serving starts, not in the goroutine:
	// a change made just after the first answer was missed under load
	// (TestServeReloadsOnChange).
	w, watched := o.startWatching()
	go o.watch(ctx, hup, w, watched)
	return o, nil
}

// serve serves hs on ln, with TLS when the configuration has a
// certificate. Go's server then also speaks HTTP/2.
func (o *ops) serve(hs *http.Server, ln net.Listener) error {
	if o.certs == nil {
		return hs.Serve(router.FramingListener(ln, hs.MaxHeaderBytes))
	}
	hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: o.certs.get}
	return hs.ServeTLS(ln, "", "")
}

// scheme is the public listener's URL scheme, for the log.
func (o *ops) scheme() string {
	if o.certs != nil {
		return "https"
	}
	return "http"
}

// reload reloads the site, and the certificate files with it.
func (o *ops) reload(ctx context.Context, why string) {
	if o.certs != nil {
		if err := o.certs.load(); err != nil {
			o.log.Error().Err(err).Msg("TLS certificate reload rejected; the previous certificate stays")
		}
	}
	_ = o.rl.Reload(ctx, why) // logged by the reloader
}

// watch reloads on SIGHUP and on changes to the configuration file, a
// module or the certificate files. Folders are watched rather than files:
// deploys and editors replace a file by renaming a new one over it, and a
// Kubernetes ConfigMap volume swaps a symlink to a new folder (..data).
// startWatching makes the file watcher and points it at the current
// configuration's files; nil when the system has none.
func (o *ops) startWatching() (*fsnotify.Watcher, *watchSet) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		o.log.Warn().Err(err).Msg("file watching unavailable; reload with SIGHUP")
		return nil, nil
	}
	return w, o.watchFiles(w, nil)
}

func (o *ops) watch(ctx context.Context, hup chan os.Signal, w *fsnotify.Watcher, watched *watchSet) {
	defer signal.Stop(hup)
	var events chan fsnotify.Event
	var errs chan error
	if w != nil {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	var timer *time.Timer
	var fire <-chan time.Time
	why := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			o.reload(ctx, "SIGHUP")
			watched = o.watchFiles(w, watched)
		case ev := <-events:
			if !watched.matches(ev.Name) {
				continue
			}
			why = "changed: " + relName(ev.Name)
			if timer == nil {
				timer = time.NewTimer(reloadDebounce)
			} else {
				timer.Reset(reloadDebounce)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			o.reload(ctx, why)
			watched = o.watchFiles(w, watched)
		case err := <-errs:
			o.log.Warn().Err(err).Msg("file watcher")
		}
	}
}

// watchSet is the files whose change reloads the site and the folders
// watched for them.
type watchSet struct {
	files map[string]bool
	dirs  map[string]bool // a module that is a folder (Go package): any change in it
}

func (ws *watchSet) matches(name string) bool {
	if ws == nil {
		return false
	}
	name = filepath.Clean(name)
	return ws.files[name] || ws.dirs[filepath.Dir(name)]
}

// watchFiles (re)points w at the current configuration's files.
func (o *ops) watchFiles(w *fsnotify.Watcher, old *watchSet) *watchSet {
	if w == nil {
		return nil
	}
	ws := &watchSet{files: map[string]bool{}, dirs: map[string]bool{}}
	cfg := o.rl.Config()
	paths := []string{o.rl.Path}
	if cfg != nil {
		paths = append(paths, cfg.ModulePaths()...)
	}
	if o.certs != nil {
		paths = append(paths, o.certs.cert, o.certs.key)
	}
	folders := map[string]bool{}
	for _, p := range paths {
		p = filepath.Clean(p)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			ws.dirs[p] = true
			folders[p] = true
			continue
		}
		ws.files[p] = true
		// A ConfigMap volume update renames a new ..data symlink in.
		ws.files[filepath.Join(filepath.Dir(p), "..data")] = true
		folders[filepath.Dir(p)] = true
	}
	for _, d := range w.WatchList() {
		if !folders[d] {
			_ = w.Remove(d)
		}
	}
	for d := range folders {
		if err := w.Add(d); err != nil {
			o.log.Warn().Err(err).Str("folder", d).Msg("cannot watch folder; reload with SIGHUP")
		}
	}
	return ws
}

// certificate is the public listener's certificate, re-read from its files
// on each reload so that a renewed certificate needs no restart.
type certificate struct {
	cert, key string
	mu        sync.RWMutex
	cur       *tls.Certificate
}

func (c *certificate) load() error {
	kp, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("tls_cert %s, tls_key %s: %w", c.cert, c.key, err)
	}
	c.mu.Lock()
	c.cur = &kp
	c.mu.Unlock()
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cur, nil
}
