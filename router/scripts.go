package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// ScriptsGuestDir is where an interpreter sees the scripts folder
// (read-only); the script's path there is its argv[1].
const ScriptsGuestDir = "/cgi-bin"

// scriptsHandler serves a folder of scripts: /prefix/NAME[.EXT][/PATH_INFO]
// runs the script NAME.EXT, built on first use and again whenever it
// changes
// (cmd/wasigate/DECISIONS.md#scripts-are-built-on-first-use-and-rebuilt-when-they-change).
type scriptsHandler struct {
	rt      *Route
	dir     string       // the scripts folder, symlinks resolved
	root    *scriptsRoot // dir, for what is served from it as files
	prefix  string       // the route's path without /*
	interps map[string]*interpreter
	log     zerolog.Logger
	tmpl    host.Handler // limits, env, volumes; Runner and Root set per request
	volumes []seam.Mount
	loader  Loader
	memory  uint64
	files   int // max_open_files
	limiter *limiter
	scope   *scope // the tenant's (or default site's) hooks: in-flight counts
	// interpProgs are the interpreters bound to this route, by ext.
	interpProgs map[string]seam.Program
	interpRC    map[string]seam.RunConfig // what they were bound with, for WSGI apps (wsgi.go)
	wsgi        wsgiApps
	set         seam.Scripts // the built scripts and their modules
	// serve and run are the route's wrappers, built once, not per request:
	// the limiter around serveScript, the in-flight hook around runScript.
	// What differs per request travels in the request's scriptRequest.
	serve, run http.Handler
	// interpInfo: the interpreters bound to the route and their
	// snapshots, by extension (RouteInfo).
	interpInfo []InterpreterInfo
}

// scriptRequest is one request's script: what ServeHTTP resolved, and the
// CGI handler serveScript makes for it.
type scriptRequest struct {
	name, entry, module string
	log                 zerolog.Logger
	h                   host.Handler
}

type scriptKey struct{}

func newScriptsHandler(cfg *Config, rt *Route, sc *scope, srv Server, redirect http.Handler) (*scriptsHandler, error) {
	interps, opts := sc.parts.interps, sc.parts.opts
	if rt.app != "" && interps[pythonExt] == nil {
		return nil, fmt.Errorf("%s is a WSGI application: it needs an [[interpreter]] with ext = %q (CPython, see samples/python/README.md)", rt.app, pythonExt)
	}
	dir, err := filepath.EvalSymlinks(cfg.Abs(rt.Scripts))
	if err != nil {
		return nil, fmt.Errorf("scripts: %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("scripts: %s is not a folder", dir)
	}
	lim := sc.limits(rt)
	volumes, docRoot, err := routeVolumes(cfg, rt)
	if err != nil {
		return nil, err
	}
	root, err := openScriptsRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("scripts: %w", err)
	}
	s := &scriptsHandler{
		rt:          rt,
		dir:         dir,
		root:        root,
		prefix:      strings.TrimSuffix(rt.Path, "/*"),
		interps:     interps,
		log:         opts.Log.With().Str("route", rt.Path).Logger(),
		tmpl:        *newHostHandler(rt, rt.Path, routeEnv(sc.env(rt)), docRoot, lim, srv, redirect),
		volumes:     volumes,
		memory:      uint64(lim.Memory),
		files:       lim.MaxOpenFiles,
		limiter:     newLimiter(lim.Concurrency, time.Duration(lim.QueueTimeout), "route"),
		scope:       sc,
		loader:      opts.Loader,
		interpProgs: map[string]seam.Program{},
		interpRC:    map[string]seam.RunConfig{},
		wsgi:        wsgiApps{apps: map[string]*wsgiApp{}, loads: make(chan struct{}, max(runtime.GOMAXPROCS(0)/2, 1))},
	}
	if s.tmpl.Sendfile, err = sc.sendfile(rt, volumes); err != nil {
		root.Close()
		return nil, err
	}
	// A .py with no [[interpreter]] for it must not look like a missing
	// page: the start fails naming the extension to configure.
	// A tenant's folder is the tenant's: what it holds never stops the
	// server (every other tenant) from starting; its requests answer 500.
	if err := s.unservedScripts(); err != nil && rt.Tenant == "" && !rt.OneScript {
		root.Close()
		return nil, err
	} else if err != nil {
		s.log.Warn().Err(err).Msg("scripts with no interpreter: they will answer 500")
	}
	// Go scripts start from a snapshot of the runtime's init
	// (cmd/wasigate/DECISIONS.md#go-programs-are-built-as-reactors) unless
	// the route says snapshot = false; each build says which, or why not,
	// once.
	s.set = opts.Loader.Scripts(seam.RunConfig{Volumes: volumes, MemoryLimit: s.memory, MaxOpenFiles: s.files, Outbound: sc.outbound(rt),
		Reuse: lim.reuse(), ReuseMax: lim.Concurrency,
		NoSnapshot: rt.Snapshot != nil && !*rt.Snapshot, BuildSlots: sc.buildSlots(srv)}, s.moduleName,
		func(full string, cached bool, d time.Duration, snap seam.Snapshot) {
			ev := s.log.Info()
			if snap.Refused() {
				ev = s.log.Warn()
			}
			ev.Str("module", s.moduleName(full)).Bool("cached", cached).Dur("build", d).Str("snapshot", snap.String()).Msg("script built")
		})
	for _, v := range volumes {
		if v.Guest == ScriptsGuestDir && len(interps) > 0 {
			return nil, fmt.Errorf("volume %s: interpreters see the scripts folder there", v.Guest)
		}
		for _, in := range interps {
			if in.Scratch && path.Clean(v.Guest) == ScratchGuestDir {
				return nil, fmt.Errorf("volume %s: the %s interpreter's scratch is mounted there", v.Guest, in.Ext)
			}
		}
	}
	for ext, in := range interps {
		if in.mod == nil {
			continue
		}
		vols := append(append(append([]seam.Mount(nil), volumes...), in.vols...), seam.Mount{Guest: ScriptsGuestDir, Host: dir})
		// ruby.wasm starts from a snapshot that ran ruby-init and requires
		// the preload list, unless the route or the interpreter says
		// snapshot = false.
		rc := seam.RunConfig{Volumes: vols, MemoryLimit: s.memory, MaxOpenFiles: s.files, Preload: in.Preload,
			Reuse: lim.reuse(), ReuseMax: lim.Concurrency,
			NoSnapshot: (rt.Snapshot != nil && !*rt.Snapshot) || (in.Snapshot != nil && !*in.Snapshot),
			// A driver (Python) starts from a snapshot of its interpreter's
			// start-up and preloads
			// (cmd/wasigate/DECISIONS.md#interpreters-start-from-a-snapshot-of-their-start-up).
			InitArgs: append([]string{filepath.Base(in.path)}, in.Args...), InitEnv: in.env}
		if in.Scratch {
			rc.Scratch, rc.ScratchSize = ScratchGuestDir, int64(in.ScratchSize)
		}
		logRetakes(&rc, s.log, ext, in)
		if rt.app == "" {
			learnPreloads(&rc, in)
			// A preload imported from the scripts folder is taken again
			// on the request after its edit (wasi/snapedit.go).
			rc.WatchInit = []string{ScriptsGuestDir}
			// Its init, which a request waits for, runs in the tenant's
			// build slots: a tenant editing in a loop waits behind its
			// own inits, not other tenants' retakes.
			rc.BuildSlots = sc.buildSlots(srv)
		}
		s.interpRC[ext] = rc
		if rt.app != "" {
			// An application route runs its application only: no
			// snapshot of the bare interpreter for it (wsgi.go).
			continue
		}
		prog, err := in.mod.Bind(rc)
		if err != nil {
			return nil, fmt.Errorf("interpreter %s: %w", ext, err)
		}
		if ie := prog.Snapshot().InitErr; ie != nil {
			// A preload that cannot be imported fails every request the
			// same way: refuse to start, naming the list.
			root.Close()
			return nil, fmt.Errorf("interpreter %s: module %s: preload %q: %w", ext, in.Module, in.Preload, ie)
		}
		s.interpProgs[ext] = prog
		// Snapshot: for `wasigate check` and the startup log (LogSnapshots).
		info := InterpreterInfo{Ext: ext, Module: in.Module, Snapshot: prog.Snapshot()}
		s.interpInfo = append(s.interpInfo, info)
	}
	sort.Slice(s.interpInfo, func(i, j int) bool { return s.interpInfo[i].Ext < s.interpInfo[j].Ext })
	s.serve, s.run = scriptStages(s, sc)
	return s, nil
}

// Requests for no script of the folder: 404.
var (
	errNoScript  = errors.New("no such script")
	errAmbiguous = errors.New("ambiguous script name")
)

// ServeHTTP implements http.Handler.
func (s *scriptsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := host.InfoFrom(r.Context()) // route and module set by tag
	log := zerolog.Ctx(r.Context()).With().Str("route", s.rt.Path).Logger()
	if s.rt.app != "" {
		// A route that is one WSGI application: all of its paths are
		// the application's PATH_INFO.
		module := path.Join(s.rt.Scripts, s.rt.app)
		info.Module = module
		sr := &scriptRequest{entry: s.rt.app, module: module, log: log.With().Str("module", module).Logger()}
		s.serve.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), scriptKey{}, sr)))
		return
	}

	rest, _ := strings.CutPrefix(r.URL.Path, s.prefix+"/")
	rawRest, _ := strings.CutPrefix(r.URL.EscapedPath(), s.prefix+"/")
	// /s/blog/post.py/extra runs blog/post.py (scripts_locate.go).
	name, entry, err := s.locate(rest)
	rawName := firstSegments(rawRest, strings.Count(name, "/")+1)
	if lower := strings.ToLower(rawName); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		// An encoded slash would make the name a path.
		entry, err = "", errNoScript
	}
	var nie *NoInterpreterError
	if errors.As(err, &nie) {
		// One event, the request's own, says why (route, module, id).
		info.Reason, info.Err, info.Module = host.ReasonToolchain, err, path.Join(s.rt.Scripts, nie.Name)
		http.Error(w, "500 Internal Server Error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if errors.Is(err, errNoScript) {
		// A folder, its index, or a file (scripts_folder.go).
		if entry = s.folderRequest(w, r, rest, rawRest); entry == "" {
			return
		}
		name, err = entry, nil
	}
	if err != nil {
		info.Reason = host.ReasonNoScript
		body := "404 page not found"
		if errors.Is(err, errAmbiguous) {
			body += ": " + err.Error()
		}
		if !errors.Is(err, errNoScript) {
			log.Warn().Str("module", info.Module).Err(err).Msg("script name not served")
		}
		http.Error(w, body, http.StatusNotFound)
		return
	}
	module := path.Join(s.rt.Scripts, entry)
	info.Module = module
	// A request waits for its script's build inside the route's limiter and
	// within its own timeout: a slow build holds only the route's slots,
	// and its requests do not wait past their timeout.
	sr := &scriptRequest{name: name, entry: entry, module: module, log: log.With().Str("module", module).Logger()}
	s.serve.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), scriptKey{}, sr)))
}

// errStillBuilding is the error of a request whose timeout passed while
// its script was building; the build goes on up to build_timeout.
var errStillBuilding = errors.New("the script is still building")

func (s *scriptsHandler) serveScript(w http.ResponseWriter, r *http.Request) {
	sr := r.Context().Value(scriptKey{}).(*scriptRequest)
	log, name, entry, module := sr.log, sr.name, sr.entry, sr.module
	start := time.Now()
	timeout := s.tmpl.Timeout
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	runner, release, err := s.runner(ctx, entry)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
			info := host.InfoFrom(r.Context())
			info.Reason = host.ReasonBuilding
			w.Header().Set("Retry-After", "5")
			if errors.Is(err, errStillRetaking) {
				info.Err = fmt.Errorf("%w (waited %v, the route's timeout)", errStillRetaking, timeout)
				http.Error(w, "503 Service Unavailable: the interpreter's snapshot is being taken again after an edit; try again shortly", http.StatusServiceUnavailable)
				return
			}
			info.Err = fmt.Errorf("%w (waited %v, the route's timeout)", errStillBuilding, timeout)
			http.Error(w, "503 Service Unavailable: the script is still building; try again shortly", http.StatusServiceUnavailable)
			return
		}
		s.fail(w, r, log, err)
		return
	}
	sr.h = s.tmpl
	sr.h.Env = scriptEnv(s.tmpl.Env, entry)
	sr.h.Runner = runner
	sr.h.Module = module
	sr.h.Root = s.prefix + "/" + name // SCRIPT_NAME as requested: /s/NAME or /s/NAME.EXT
	if s.rt.app != "" {
		sr.h.Root = s.prefix // the route is the application
	}
	// What the build wait used of the timeout is not given again.
	sr.h.Timeout = max(timeout-time.Since(start), time.Millisecond)
	defer release() // also when the guest never ran
	s.run.ServeHTTP(w, r)
}

// runScript runs the request's script through its CGI handler.
func (s *scriptsHandler) runScript(w http.ResponseWriter, r *http.Request) {
	r.Context().Value(scriptKey{}).(*scriptRequest).h.ServeHTTP(w, r)
}

// runner returns what runs the entry: its interpreter, or its build; call
// release when the request ends, whether the runner ran or not.
func (s *scriptsHandler) runner(ctx context.Context, entry string) (host.Runner, func(), error) {
	full := filepath.Join(s.dir, entry)
	if callable := s.wsgiCallable(entry); callable != "" {
		return s.wsgiRunner(ctx, entry, callable)
	}
	if in, ok := s.interpFor(entry); ok && s.loader.SourceKind(full) == "" {
		if in.err != nil {
			return nil, nil, in.err
		}
		if err := refreshInterpreter(ctx, s.interpProgs[in.Ext]); err != nil {
			return nil, nil, err
		}
		return interpreterRunner{prog: s.interpProgs[in.Ext], argv0: filepath.Base(in.path), opts: in.Args, env: in.env, script: path.Join(ScriptsGuestDir, entry)}, func() {}, nil
	}
	// The script's module is held until the run ends, or the request
	// does when it never ran (refused by the limiter).
	return s.set.Acquire(ctx, full)
}

// close is called when the site is retired and its requests have ended.
func (s *scriptsHandler) close() {
	s.set.Close()
	s.closeApps()
	s.root.Close()
}

func (s *scriptsHandler) moduleName(full string) string {
	rel, err := filepath.Rel(s.dir, full)
	if err != nil {
		return full
	}
	return path.Join(s.rt.Scripts, filepath.ToSlash(rel))
}

// prebuild builds every script of the folder that needs building, one at
// a time (see Site.Prebuild).
func (s *scriptsHandler) prebuild(ctx context.Context) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Warn().Err(err).Msg("prebuild: cannot list the scripts folder")
		return
	}
	for _, e := range entries {
		kind := s.kindOf(e.Name())
		if ctx.Err() != nil {
			return
		}
		if s.rt.app != "" && e.Name() != s.rt.app {
			continue // an application route serves its one entry
		}
		if callable := s.wsgiCallable(e.Name()); callable != "" {
			// Loaded now rather than by its first request; a failure is
			// logged by the load and answered by that request.
			if _, release, err := s.wsgiRunner(ctx, e.Name(), callable); err == nil {
				release()
			}
			continue
		}
		if kind == "" || s.interps[kind] != nil {
			continue
		}
		if err := s.set.Build(ctx, filepath.Join(s.dir, e.Name())); err != nil && ctx.Err() == nil {
			s.log.Warn().Str("module", path.Join(s.rt.Scripts, e.Name())).Err(err).Msg("prebuild: script failed to build")
		}
	}
}
