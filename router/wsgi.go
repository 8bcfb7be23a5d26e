package router

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// WSGI applications of a scripts folder: a .wsgi file, or the .py file a
// route's wsgi key names. Each is loaded once into its own snapshot of the
// Python interpreter (the driver's init imports the preloads, executes the
// file as a module and runs the warm-up requests) when first requested or
// by the folder's prebuild, whichever comes first, so many applications
// never slow the server's start. Every request starts from that snapshot
// and makes one call of the application (samples/python/wasigate_wsgi.py).
// A change to any Python file of the folder loads the application again on
// its next request (appwatch.go), as mod_wsgi's daemon mode reloads on a
// touched script.

// Environment variables that tell the driver which application to load.
const (
	WSGIEnv       = "WASIGATE_WSGI"        // guest path and callable, "path:name"
	WSGIWarmupEnv = "WASIGATE_WSGI_WARMUP" // the warm-up paths, space-separated
)

// AppLoadError is the answer for an application that raised at import,
// lacks its callable or failed a warm-up: 500 with reason "load", the
// init's output in the log. It is retried when the folder's files change.
type AppLoadError struct {
	Module string
	Err    error
}

func (e *AppLoadError) Error() string {
	return fmt.Sprintf("WSGI application %s failed to load (fix it and save: the next request loads it again): %v", e.Module, e.Err)
}

func (e *AppLoadError) Unwrap() error { return e.Err }

// wsgiApps are the loaded applications of one scripts folder.
type wsgiApps struct {
	mu   sync.Mutex
	apps map[string]*wsgiApp // by entry
	// loads bounds the loads under way at once: each is an interpreter's
	// start-up and a compile, CPU-bound, and a folder of many
	// applications first asked for together must not take every core.
	loads chan struct{}
	// tooMany: the folder outgrew maxAppFiles, said once.
	tooMany sync.Once
	// watch tells appSig when the folder may have changed (appwatch.go).
	watch appWatch
}

// wsgiApp is one application: its current load, a failed one, or one
// under way.
type wsgiApp struct {
	sig     string
	cur     *appProg
	failSig string
	failErr error
	flight  *appFlight
}

// appProg is one load of an application and the requests running it; a
// load replaced by a newer one is closed when its last request ends.
type appProg struct {
	prog    seam.Program
	runs    int
	retired bool
}

type appFlight struct {
	sig  string
	done chan struct{}
}

// wsgiCallable returns the callable the entry is served with, or "" when
// it is not a WSGI application.
func (s *scriptsHandler) wsgiCallable(entry string) string {
	if s.interps[pythonExt] == nil {
		return ""
	}
	if filepath.Ext(entry) == WSGIExt {
		return DefaultWSGICallable
	}
	if file, name, ok := wsgiSpec(s.rt.WSGI); ok && file == entry {
		return name
	}
	return ""
}

// wsgiRunner returns the runner of the application at entry, loading it
// first when it changed; release ends the request's hold on it.
func (s *scriptsHandler) wsgiRunner(ctx context.Context, entry, callable string) (host.Runner, func(), error) {
	in := s.interps[pythonExt]
	if in.err != nil {
		return nil, nil, in.err
	}
	for {
		sig, err := s.appSig()
		if err != nil {
			return nil, nil, err
		}
		s.wsgi.mu.Lock()
		a := s.wsgi.apps[entry]
		if a == nil {
			a = &wsgiApp{}
			s.wsgi.apps[entry] = a
		}
		switch {
		case a.cur != nil && a.sig == sig:
			p := a.cur
			p.runs++
			s.wsgi.mu.Unlock()
			var once sync.Once
			r := interpreterRunner{prog: p.prog, argv0: filepath.Base(in.path), opts: in.Args,
				env: append(append([]string(nil), in.env...), s.wsgiEnv(entry, callable)...), script: path.Join(ScriptsGuestDir, entry)}
			return r, func() { once.Do(func() { s.releaseApp(p) }) }, nil
		case a.failErr != nil && a.failSig == sig:
			err := a.failErr
			s.wsgi.mu.Unlock()
			return nil, nil, err
		}
		f := a.flight
		if f == nil || f.sig != sig {
			f = &appFlight{sig: sig, done: make(chan struct{})}
			a.flight = f
			// Detached from the request: others wait for the same load.
			go s.loadApp(a, f, entry, callable)
		}
		s.wsgi.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// loadApp binds the interpreter to the application, which takes its
// snapshot, and makes it the current load.
func (s *scriptsHandler) loadApp(a *wsgiApp, f *appFlight, entry, callable string) {
	s.wsgi.loads <- struct{}{}
	defer func() { <-s.wsgi.loads }()
	rc := s.interpRC[pythonExt]
	rc.App = true
	rc.InitEnv = append(append(append([]string(nil), rc.InitEnv...), s.tmpl.Env...), s.wsgiEnv(entry, callable)...)
	// The application loads in its own folder, as each request runs there
	// (scriptEnv): a file it reads at import by a relative path is found.
	rc.InitEnv = append(rc.InitEnv, "PWD="+path.Dir(path.Join(ScriptsGuestDir, entry)))
	prog, err := s.interps[pythonExt].mod.Bind(rc)
	module := path.Join(s.rt.Scripts, entry)
	var old *appProg
	s.wsgi.mu.Lock()
	if a.flight == f {
		a.flight = nil
	}
	if err != nil {
		a.failSig, a.failErr = f.sig, &AppLoadError{Module: module, Err: err}
	} else {
		old = a.cur
		a.cur, a.sig = &appProg{prog: prog}, f.sig
		a.failErr = nil
	}
	if old != nil {
		old.retired = true
		if old.runs > 0 {
			old = nil // its last request closes it
		}
	}
	s.wsgi.mu.Unlock()
	if old != nil {
		closeProgram(old.prog)
	}
	if err != nil {
		s.log.Error().Str("module", module).Err(err).Msg("WSGI application failed to load")
	} else {
		// What the application's snapshot costs, each figure its own
		// field (`wasigate check` prints the same).
		sn := prog.Snapshot()
		s.log.Info().Str("module", module).Str("snapshot", sn.String()).Uint64("image_bytes", sn.Image).Bool("mapped", sn.Mapped).
			Dur("init", sn.InitTime).Dur("warmup", sn.WarmupTime).Msg("WSGI application loaded")
	}
	close(f.done)
}

func (s *scriptsHandler) releaseApp(p *appProg) {
	s.wsgi.mu.Lock()
	p.runs--
	free := p.retired && p.runs == 0
	s.wsgi.mu.Unlock()
	if free {
		closeProgram(p.prog)
	}
}

// closeApps closes every load once the route is retired and its requests
// have ended.
func (s *scriptsHandler) closeApps() {
	s.wsgi.mu.Lock()
	var progs []seam.Program
	for _, a := range s.wsgi.apps {
		if a.cur != nil {
			progs = append(progs, a.cur.prog)
			a.cur = nil
		}
	}
	s.wsgi.mu.Unlock()
	for _, p := range progs {
		closeProgram(p)
	}
	s.wsgi.watch.close()
}

func closeProgram(p seam.Program) { _ = p.Close(context.Background()) }

// wsgiEnv names the application for the driver's init.
func (s *scriptsHandler) wsgiEnv(entry, callable string) []string {
	env := []string{WSGIEnv + "=" + path.Join(ScriptsGuestDir, entry) + ":" + callable}
	if len(s.rt.Warmup) > 0 {
		env = append(env, WSGIWarmupEnv+"="+strings.Join(s.rt.Warmup, " "))
	}
	return env
}

// AppInfo is a WSGI application once loaded, for `wasigate check`: its
// snapshot (image size, mapped or copied, the init's time, which covers
// the preloads, the import and the warm-ups), or why it failed to load.
type AppInfo struct {
	Route, Module string
	Snapshot      seam.Snapshot
	Err           error
}

// LoadApps loads the WSGI application of every scripts route, one at a
// time, and reports each.
func (s *Site) LoadApps(ctx context.Context) []AppInfo {
	var out []AppInfo
	for _, f := range s.apps {
		out = append(out, f(ctx)...)
	}
	return out
}

// loadApps loads the folder's applications (an application route's one).
func (s *scriptsHandler) loadApps(ctx context.Context) []AppInfo {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return []AppInfo{{Route: s.rt.Path, Module: s.rt.Scripts, Err: err}}
	}
	var out []AppInfo
	for _, e := range entries {
		callable := s.wsgiCallable(e.Name())
		if callable == "" || (s.rt.app != "" && e.Name() != s.rt.app) || s.kindOf(e.Name()) == "" {
			continue
		}
		info := AppInfo{Route: s.rt.Path, Module: path.Join(s.rt.Scripts, e.Name())}
		_, release, err := s.wsgiRunner(ctx, e.Name(), callable)
		if err != nil {
			info.Err = err
		} else {
			s.wsgi.mu.Lock()
			if a := s.wsgi.apps[e.Name()]; a != nil && a.cur != nil {
				info.Snapshot = a.cur.prog.Snapshot()
			}
			s.wsgi.mu.Unlock()
			release()
		}
		out = append(out, info)
	}
	return out
}
