package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/build"
)

// ScriptsGuestDir is where an interpreter sees the scripts folder
// (read-only); the script's path there is its argv[1].
const ScriptsGuestDir = "/cgi-bin"

// interpreter is a loaded [[interpreter]].
type interpreter struct {
	Interpreter
	path string
	mod  *wasi.Module
	err  error         // not installed: its scripts answer 500 with this
	vols []wasi.Volume // its own read-only volumes (interpreter.go)
	env  []string      // its own environment, added to each request's
}

// MissingInterpreterError is the answer for a script whose interpreter
// module is not installed.
type MissingInterpreterError struct {
	Ext, Module, Install string
}

func (e *MissingInterpreterError) Error() string {
	msg := fmt.Sprintf("no interpreter for %s scripts: %s is not installed", e.Ext, e.Module)
	if e.Install != "" {
		msg += " (install it with: " + e.Install + ")"
	}
	return msg
}

// loadInterpreters compiles the configured interpreters when a scripts
// route may use them. A missing module is not an error, so that a site
// serves its other scripts before, say, Ruby is installed: that
// interpreter's scripts answer 500 naming the install command. A module
// that is there but broken fails the start, like any route's module.
func loadInterpreters(ctx context.Context, cfg *Config, opts Options) (map[string]*interpreter, []error) {
	out := map[string]*interpreter{}
	used := false
	for _, rt := range cfg.Routes {
		used = used || rt.Scripts != ""
	}
	if !used {
		return out, nil
	}
	var errs []error
	for i, in := range cfg.Interpreters {
		it := &interpreter{Interpreter: in, path: cfg.Abs(in.Module)}
		out[in.Ext] = it
		if _, err := os.Stat(it.path); errors.Is(err, fs.ErrNotExist) {
			it.err = &MissingInterpreterError{Ext: in.Ext, Module: in.Module, Install: in.Install}
			opts.Log.Warn().Str("ext", in.Ext).Str("module", in.Module).Str("install", in.Install).
				Msg("interpreter not installed: its scripts will answer 500")
			continue
		}
		vols, err := interpreterVolumes(cfg, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: interpreter #%d %q: %w", cfg.File, i+1, in.Ext, err))
			continue
		}
		it.vols, it.env = vols, interpreterEnv(in)
		mod, err := LoadModule(ctx, it.path, opts)
		if err == nil && !mod.HasExport("_start") && !mod.IsRuby() {
			err = errors.New("exports neither _start (a command) nor ruby-init (ruby.wasm)")
		}
		if err == nil && mod.IsRuby() && len(in.Args) > 0 {
			err = errors.New("args: ruby.wasm gets its options from the server, not from args")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: interpreter #%d %q: module %s: %w", cfg.File, i+1, in.Ext, in.Module, err))
			continue
		}
		it.mod = mod
	}
	return out, errs
}

// scriptsHandler serves a folder of scripts: /prefix/NAME[.EXT][/PATH_INFO]
// runs the script NAME.EXT, built on first use and again whenever it
// changes (issue 5).
type scriptsHandler struct {
	rt      *Route
	dir     string // the scripts folder, symlinks resolved
	prefix  string // the route's path without /*
	interps map[string]*interpreter
	builder *build.Builder
	engine  *wasi.Engine
	log     zerolog.Logger
	tmpl    host.Handler // limits, env, volumes; Runner and Root set per request
	volumes []wasi.Volume
	memory  uint64
	files   int // max_open_files
	limiter *limiter
	scope   *scope // the tenant's (or default site's) hooks: in-flight counts
	// interpProgs are the interpreters bound to this route, by ext.
	interpProgs map[string]*wasi.Program

	mu      sync.Mutex
	scripts map[string]*script       // by host path
	modules map[string]*scriptModule // compiled, by sha256 of the .wasm
	closed  bool                     // the site was retired: close modules as they free up
}

// scriptModule is a compiled script module and who holds it: the scripts
// whose current build it is, and the requests running it. When an edit
// replaces it and its last request ends, it is closed, so that editing a
// script does not pile up compiled code for the life of the process.
type scriptModule struct {
	mod      *wasi.Module
	users    int // scripts whose current build this is
	inflight int // requests running it
}

// script is the state of one script: what was built for which stat
// signature, so that an unchanged script is neither hashed nor rebuilt.
type script struct {
	sig     string
	prog    *wasi.Program
	key     string // s.modules key of prog's module
	failSig string // a build that failed, not retried until the file changes
	failErr error
	flight  *scriptFlight
}

// scriptFlight is a build under way; requests for the script wait on done.
type scriptFlight struct {
	sig  string
	done chan struct{}
	prog *wasi.Program
	key  string
	err  error
}

func newScriptsHandler(cfg *Config, rt *Route, sc *scope, srv Server, redirect http.Handler) (*scriptsHandler, error) {
	interps, opts := sc.parts.interps, sc.parts.opts
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
	s := &scriptsHandler{
		rt:          rt,
		dir:         dir,
		prefix:      strings.TrimSuffix(rt.Path, "/*"),
		interps:     interps,
		builder:     opts.Builder,
		engine:      opts.Engine,
		log:         opts.Log.With().Str("route", rt.Path).Logger(),
		tmpl:        *newHostHandler(rt, rt.Path, routeEnv(sc.env(rt)), docRoot, lim, srv, redirect),
		volumes:     volumes,
		memory:      uint64(lim.Memory),
		files:       lim.MaxOpenFiles,
		limiter:     newLimiter(lim.Concurrency, time.Duration(lim.QueueTimeout), "route"),
		scope:       sc,
		interpProgs: map[string]*wasi.Program{},
		scripts:     map[string]*script{},
		modules:     map[string]*scriptModule{},
	}
	for _, v := range volumes {
		if v.Guest == ScriptsGuestDir && len(interps) > 0 {
			return nil, fmt.Errorf("volume %s: interpreters see the scripts folder there", v.Guest)
		}
		for _, in := range interps {
			if in.Scratch && path.Clean(v.Guest) == wasi.ScratchGuestDir {
				return nil, fmt.Errorf("volume %s: the %s interpreter's scratch is mounted there", v.Guest, in.Ext)
			}
		}
	}
	for ext, in := range interps {
		if in.mod == nil {
			continue
		}
		vols := append(append(append([]wasi.Volume(nil), volumes...), in.vols...), wasi.Volume{Guest: ScriptsGuestDir, Host: dir})
		prog, err := in.mod.Prepare(wasi.Config{Volumes: vols, MemoryLimit: s.memory, MaxOpenFiles: s.files})
		if err != nil {
			return nil, fmt.Errorf("interpreter %s: %w", ext, err)
		}
		s.interpProgs[ext] = prog
	}
	return s, nil
}

// Requests for no script of the folder: 404.
var (
	errNoScript  = errors.New("no such script")
	errAmbiguous = errors.New("ambiguous script name")
)

// ServeHTTP implements http.Handler.
func (s *scriptsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := host.InfoFrom(r.Context())
	info.Route, info.Module = s.rt.Path, s.rt.Scripts+"/"
	log := zerolog.Ctx(r.Context()).With().Str("route", s.rt.Path).Logger()

	rest, _ := strings.CutPrefix(r.URL.Path, s.prefix+"/")
	rawRest, _ := strings.CutPrefix(r.URL.EscapedPath(), s.prefix+"/")
	name, _, _ := strings.Cut(rest, "/")
	rawName, _, _ := strings.Cut(rawRest, "/")
	entry, err := s.resolve(name)
	if lower := strings.ToLower(rawName); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		// An encoded slash would make the name a path.
		entry, err = "", errNoScript
	}
	if err != nil {
		info.Reason = "no script"
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
	// A request waits for its script's build inside the route's limiter
	// and within its own timeout (issue 10): a slow build holds only the
	// route's slots, and its requests do not wait past their timeout.
	s.limiter.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveScript(w, r, log.With().Str("module", module).Logger(), name, entry, module)
	})).ServeHTTP(w, r)
}

// errStillBuilding is the error of a request whose timeout passed while
// its script was building; the build goes on up to build_timeout.
var errStillBuilding = errors.New("the script is still building")

func (s *scriptsHandler) serveScript(w http.ResponseWriter, r *http.Request, log zerolog.Logger, name, entry, module string) {
	start := time.Now()
	timeout := s.tmpl.Timeout
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	runner, err := s.runner(ctx, entry)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
			info := host.InfoFrom(r.Context())
			info.Reason = "building"
			info.Err = fmt.Errorf("%w (waited %v, the route's timeout)", errStillBuilding, timeout)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "503 Service Unavailable: the script is still building; try again shortly", http.StatusServiceUnavailable)
			return
		}
		s.fail(w, r, log, err)
		return
	}
	h := s.tmpl
	h.Runner = runner
	h.Module = module
	h.Root = s.prefix + "/" + name // SCRIPT_NAME as requested: /s/NAME or /s/NAME.EXT
	// What the build wait used of the timeout is not given again.
	h.Timeout = max(timeout-time.Since(start), time.Millisecond)
	if sr, ok := runner.(*scriptRunner); ok {
		// Also when the guest never ran.
		defer sr.release()
	}
	s.scope.running(s.rt.Path, &h).ServeHTTP(w, r)
}

// fail answers a script that cannot run. The toolchain or interpreter to
// install is always named; the compiler's output only with
// show_build_errors, since it shows source paths and code.
func (s *scriptsHandler) fail(w http.ResponseWriter, r *http.Request, log zerolog.Logger, err error) {
	info := host.InfoFrom(r.Context())
	if r.Context().Err() != nil {
		info.Reason, info.Status = "client", 499
		log.Info().Err(err).Msg("client went away while the script was building")
		return
	}
	info.Reason = "build"
	body := "500 Internal Server Error: the script could not be built"
	var te *build.ToolchainError
	var me *MissingInterpreterError
	switch {
	case errors.As(err, &te), errors.As(err, &me):
		info.Reason = "toolchain"
		body = "500 Internal Server Error: " + err.Error()
	case errors.Is(err, build.ErrNoSandbox):
		info.Reason = "toolchain"
		body = "500 Internal Server Error: " + build.ErrNoSandbox.Error()
	case s.rt.ShowBuildErrors:
		body += "\n\n" + err.Error()
	}
	log.Error().Err(err).Int("status", http.StatusInternalServerError).Msg("script failed to build")
	http.Error(w, body, http.StatusInternalServerError)
}

// resolve maps a requested name to an entry of the folder: the entry of
// that name if it is a script, else the one script whose name without
// its extension is name. Hidden entries, names with separators and
// entries that lead out of the folder are never served.
func (s *scriptsHandler) resolve(name string) (string, error) {
	if name == "" || name[0] == '.' || strings.ContainsAny(name, "/\\\x00") {
		return "", errNoScript
	}
	if s.kindOf(name) != "" {
		return name, nil
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return "", err
	}
	var matches []string
	for _, e := range entries {
		n := e.Name()
		if strings.TrimSuffix(n, filepath.Ext(n)) == name && n != name && s.kindOf(n) != "" {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 0:
		return "", errNoScript
	case 1:
		return matches[0], nil
	}
	// Serving either would depend on what else is in the folder: refuse
	// (404) and tell the operator which names clash.
	sort.Strings(matches)
	return "", fmt.Errorf("%w: %q matches %s; request one with its extension", errAmbiguous, name, strings.Join(matches, ", "))
}

// kindOf returns what the folder's entry name is as a script: a build kind,
// an interpreter's ext, or "" when it is not one (or leads out of the
// folder through a symbolic link).
func (s *scriptsHandler) kindOf(name string) string {
	if name == "" || name[0] == '.' {
		return ""
	}
	p := filepath.Join(s.dir, name)
	st, err := os.Lstat(p)
	if err != nil {
		return ""
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return ""
		}
		if rel, err := filepath.Rel(s.dir, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return ""
		}
		if st, err = os.Stat(target); err != nil {
			return ""
		}
	}
	if st.IsDir() {
		return string(build.KindOf(p))
	}
	if !st.Mode().IsRegular() {
		return ""
	}
	ext := filepath.Ext(name)
	if _, ok := s.interps[ext]; ok {
		return ext
	}
	if builtinExts[ext] {
		return ext
	}
	return ""
}

// runner returns what runs the entry: its interpreter, or its build.
func (s *scriptsHandler) runner(ctx context.Context, entry string) (host.Runner, error) {
	full := filepath.Join(s.dir, entry)
	if in, ok := s.interps[filepath.Ext(entry)]; ok && build.KindOf(full) == "" {
		if in.err != nil {
			return nil, in.err
		}
		return interpreterRunner{prog: s.interpProgs[in.Ext], argv0: filepath.Base(in.path), opts: in.Args, env: in.env, scratch: in.Scratch, script: path.Join(ScriptsGuestDir, entry)}, nil
	}
	prog, key, err := s.acquire(ctx, full)
	if err != nil {
		return nil, err
	}
	return &scriptRunner{s: s, key: key, prog: prog}, nil
}

// scriptRunner runs a script's program, holding its module while it runs.
type scriptRunner struct {
	s    *scriptsHandler
	key  string
	prog *wasi.Program
	once sync.Once
}

func (r *scriptRunner) Run(ctx context.Context, inv *host.Invocation) error {
	defer r.release()
	return programRunner{r.prog}.Run(ctx, inv)
}

// release lets go of the module; the host may not run the script at all
// (a request refused by the limiter), so the handler calls it too.
func (r *scriptRunner) release() { r.once.Do(func() { r.s.release(r.key) }) }

// acquire returns the script's program with its module held for one run.
func (s *scriptsHandler) acquire(ctx context.Context, full string) (*wasi.Program, string, error) {
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, "", errors.New("scripts route retired by a reload")
		}
		prog, key, err := s.program(ctx, full)
		if err != nil {
			return nil, "", err
		}
		s.mu.Lock()
		if m := s.modules[key]; m != nil {
			m.inflight++
			s.mu.Unlock()
			return prog, key, nil
		}
		s.mu.Unlock()
		// Closed between the build and now (an edit raced it): again.
	}
}

// release ends one run of the module at key, closing it if nothing holds
// it any more.
func (s *scriptsHandler) release(key string) {
	s.mu.Lock()
	m := s.modules[key]
	if m != nil {
		m.inflight--
	}
	s.mu.Unlock()
	s.closeIfFree(key)
}

// closeIfFree closes the module at key when no script's current build and
// no request uses it (after a retired site, when no request does).
func (s *scriptsHandler) closeIfFree(key string) {
	s.mu.Lock()
	m := s.modules[key]
	if m == nil || m.inflight > 0 || (m.users > 0 && !s.closed) {
		s.mu.Unlock()
		return
	}
	delete(s.modules, key)
	s.mu.Unlock()
	_ = m.mod.Close(context.Background())
}

// close is called when the site is retired and its requests have ended:
// every compiled script module is closed.
func (s *scriptsHandler) close() {
	s.mu.Lock()
	s.closed = true
	keys := make([]string, 0, len(s.modules))
	for k := range s.modules {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.closeIfFree(k)
	}
}

// interpreterRunner runs a script with its interpreter, like a "#!" line:
// argv is the interpreter, its configured options, the script's path, then
// the CGI arguments: a request's words always follow the script, so they
// are the script's arguments, never the interpreter's options.
type interpreterRunner struct {
	prog          *wasi.Program
	argv0, script string
	opts, env     []string // the [[interpreter]]'s args and environment
	scratch       bool     // a fresh /tmp per request
}

func (r interpreterRunner) Run(ctx context.Context, inv *host.Invocation) error {
	args := make([]string, 0, 2+len(r.opts)+len(inv.Args))
	args = append(append(append(args, r.argv0), r.opts...), r.script)
	if len(inv.Args) > 1 {
		args = append(args, inv.Args[1:]...)
	}
	inv.Args = args
	if len(r.env) > 0 {
		inv.Env = append(inv.Env[:len(inv.Env):len(inv.Env)], r.env...)
	}
	if !r.scratch {
		return programRunner{r.prog}.Run(ctx, inv)
	}
	c := wasi.Call{Args: inv.Args, Env: inv.Env, Stdin: inv.Stdin, Stdout: inv.Stdout, Stderr: inv.Stderr}
	err := runScratch(ctx, r.prog, &c)
	inv.Instantiate = c.Instantiate
	return err
}

// program returns the prepared program of the script at full, building
// it when the file changed since the last build. A stat signature decides
// that, so an unchanged script costs a stat or two per request, not a
// hash of its source. Requests for a script being built wait for that
// build; other scripts and routes do not.
func (s *scriptsHandler) program(ctx context.Context, full string) (*wasi.Program, string, error) {
	sig, err := statSig(full)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	sc := s.scripts[full]
	if sc == nil {
		sc = &script{}
		s.scripts[full] = sc
	}
	switch {
	case sc.prog != nil && sc.sig == sig:
		p, key := sc.prog, sc.key
		s.mu.Unlock()
		return p, key, nil
	case sc.failErr != nil && sc.failSig == sig:
		err := sc.failErr
		s.mu.Unlock()
		return nil, "", err
	}
	f := sc.flight
	if f == nil || f.sig != sig {
		f = &scriptFlight{sig: sig, done: make(chan struct{})}
		sc.flight = f
		go s.build(full, sc, f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.prog, f.key, f.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// build runs one flight, detached from the request that started it: a
// client that goes away must not cancel what others wait for.
func (s *scriptsHandler) build(full string, sc *script, f *scriptFlight) {
	start := time.Now()
	prog, key, cached, err := s.compile(full)
	var old string // the module reference this build lets go of
	s.mu.Lock()
	if sc.flight == f {
		sc.flight = nil
		if err == nil {
			old = sc.key
			sc.sig, sc.prog, sc.key = f.sig, prog, key
		} else if !errors.Is(err, build.ErrToolchain) {
			// A toolchain may be installed without the script changing.
			sc.failSig, sc.failErr = f.sig, err
		}
	} else if err == nil {
		old = key // a newer build replaced this one: give its reservation back
	}
	if old != "" {
		if m := s.modules[old]; m != nil {
			m.users--
		}
	}
	s.mu.Unlock()
	if old != "" {
		s.closeIfFree(old)
	}
	// Logged before the waiters go on, so that the event comes before
	// anything they log about the script.
	if err == nil {
		s.log.Info().Str("module", s.moduleName(full)).Bool("cached", cached).
			Dur("build", time.Since(start)).Msg("script built")
	}
	f.prog, f.key, f.err = prog, key, err
	close(f.done)
}

// compile builds (through the content-hash cache), compiles (once per
// distinct .wasm) and prepares the script at full.
func (s *scriptsHandler) compile(full string) (*wasi.Program, string, bool, error) {
	ctx := context.Background()
	wasmPath, cached := full, true
	if build.KindOf(full) != build.Wasm {
		if s.builder == nil {
			return nil, "", false, fmt.Errorf("%s scripts need a builder", build.KindOf(full))
		}
		res, err := s.builder.Build(ctx, full)
		if err != nil {
			return nil, "", false, err
		}
		wasmPath, cached = res.Path, res.Cached
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, "", false, err
	}
	sum := sha256.Sum256(wasm)
	key := hex.EncodeToString(sum[:])
	// The module is reserved (users+1) for the script being built, so that
	// a release elsewhere cannot close it before build records it.
	s.mu.Lock()
	m := s.modules[key]
	if m != nil {
		m.users++
	}
	s.mu.Unlock()
	if m == nil {
		mod, err := s.engine.Compile(ctx, s.moduleName(full), wasm)
		if err != nil {
			return nil, "", false, err
		}
		s.mu.Lock()
		if m = s.modules[key]; m != nil {
			m.users++ // compiled meanwhile for another script: use that one
			s.mu.Unlock()
			_ = mod.Close(ctx)
		} else {
			m = &scriptModule{mod: mod, users: 1}
			s.modules[key] = m
			s.mu.Unlock()
		}
	}
	prog, err := m.mod.Prepare(wasi.Config{Volumes: s.volumes, MemoryLimit: s.memory, MaxOpenFiles: s.files})
	if err != nil {
		s.mu.Lock()
		m.users--
		s.mu.Unlock()
		s.closeIfFree(key)
		return nil, "", false, err
	}
	return prog, key, cached, nil
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
		if kind == "" || s.interps[kind] != nil {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if _, _, err := s.program(ctx, filepath.Join(s.dir, e.Name())); err != nil && ctx.Err() == nil {
			s.log.Warn().Str("module", path.Join(s.rt.Scripts, e.Name())).Err(err).Msg("prebuild: script failed to build")
		}
	}
}

// statSig is what must change when a script's build output may: the size
// and modification time of its file (of every file, for a Go folder) and,
// for Go, of the go.mod and go.sum around it.
func statSig(full string) (string, error) {
	st, err := os.Stat(full)
	if err != nil {
		return "", err
	}
	h := fnv.New64a()
	add := func(p string, st fs.FileInfo) {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", p, st.Size(), st.ModTime().UnixNano())
	}
	kind := build.KindOf(full)
	if st.IsDir() {
		err := filepath.WalkDir(full, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != full && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if d.IsDir() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			add(p, info)
			return nil
		})
		if err != nil {
			return "", err
		}
	} else {
		add(full, st)
	}
	if kind == build.Go {
		dir := filepath.Dir(full)
		if st.IsDir() {
			dir = full
		}
		for {
			if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				add("go.mod", st)
				if st, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
					add("go.sum", st)
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return fmt.Sprintf("%x", h.Sum64()), nil
}
