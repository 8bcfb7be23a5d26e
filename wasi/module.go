package wasi

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// Module is a compiled module, ready to be instantiated once per call.
type Module struct {
	engine   *Engine
	rt       wazero.Runtime        // the runtime that compiled it (deadline.go)
	compiled wazero.CompiledModule // what it exports and imports (footprint.go)
	code     moduleCode            // its own machine code, while needed
	base     wazero.ModuleConfig
	closed   sync.Once

	Name        string        // file name or other label, for logs
	Size        int           // bytes of the binary module
	Hash        string        // hex sha256 of the binary module
	Cached      bool          // compiled before into the on-disk cache
	CompileTime time.Duration // time CompileModule took (a cache load when Cached)

	// Segments is the number of active data segments of the module, and
	// SegmentsJoined how many are left after joining them at compile time
	// (both 0 when the data section was left as it is).
	Segments, SegmentsJoined int

	// Deadline is how its guests are stopped: DeadlineInstrument or
	// DeadlineWazero, as the engine's Options say (deadline.go). A module
	// the rewriter cannot instrument is refused, never run with wazero's
	// check instead.
	Deadline  string
	interrupt bool // has the interrupt global
	start     bool // its start function is the export rewrite.StartExport

	snap moduleSnapshot // snapshot.go
	// reuseBlock: why instances of the module are never reused, from its
	// code (rewrite.ReuseBlocker); warm: its programs' idle instances
	// (reuse.go).
	reuseBlock error
	warm       warmSet
	// goFallback: why a Go program was built with _start and not as a
	// driver a snapshot is taken of (toolchain/gosnap.go); "" otherwise.
	goFallback string
}

// prepare builds the parts of the module config that are the same for every
// call, once: fresh anonymous instances (so they can run concurrently), real
// clocks and sleep, crypto randomness. wazero's defaults are a fake clock and
// a deterministic random source, which a CGI script must not get.
func (m *Module) prepare() {
	m.base = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
}

// Close releases the compiled code once no program of the module runs any
// more; the caller must make sure of that (a reload waits for the requests
// on the old site to finish). wazero counts compilations of the same binary,
// so closing one Module leaves another compiled from the same bytes intact.
// Closing twice is a no-op.
func (m *Module) Close(ctx context.Context) error {
	var err error
	m.closed.Do(func() {
		m.warm.close(ctx)
		m.closeLearners(ctx)
		m.closeSnapshot(ctx)
		err = m.closeCode(ctx)
		m.engine.open.Add(-1)
		m.engine.releaseHolds(m) // its cache files may be trimmed now
	})
	return err
}

// Exports lists the names of the functions the module exports, sorted.
func (m *Module) Exports() []string {
	var names []string
	for name := range m.compiled.ExportedFunctions() {
		if !reserved(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// HasExport reports whether the module exports a function of that name.
func (m *Module) HasExport(name string) bool {
	_, ok := m.compiled.ExportedFunctions()[name]
	return ok && !reserved(name)
}

// reserved reports whether an export is one the deadline checks added
// (rewrite.InterruptExport, rewrite.StartExport): no configuration may
// name it as an entrypoint.
func reserved(name string) bool { return strings.HasPrefix(name, "wasigate.") }

// Check validates that the module can serve through entrypoint: the
// function is exported and takes and returns nothing, and every import is
// provided by the host.
func (m *Module) Check(entrypoint string) error {
	var errs []error
	fn, ok := m.compiled.ExportedFunctions()[entrypoint]
	if !ok || reserved(entrypoint) {
		errs = append(errs, fmt.Errorf("%s does not export entrypoint %q (exports: %v)", m.Name, entrypoint, m.Exports()))
	} else if len(fn.ParamTypes()) != 0 || len(fn.ResultTypes()) != 0 {
		errs = append(errs, fmt.Errorf("%s: entrypoint %q must take no parameters and return nothing", m.Name, entrypoint))
	}
	errs = append(errs, m.checkImports())
	return errors.Join(errs...)
}

// checkImports reports every import the host does not provide.
func (m *Module) checkImports() error {
	var errs []error
	m.engine.mu.Lock()
	defer m.engine.mu.Unlock()
	missing := map[string]bool{}
	for _, imp := range m.compiled.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if !m.engine.hosts[mod] && !missing[mod+"."+name] {
			missing[mod+"."+name] = true
			errs = append(errs, fmt.Errorf("%s imports %s.%s, which the host does not provide", m.Name, mod, name))
		}
	}
	return errors.Join(errs...)
}

// Volume is a host folder the guest sees at Guest.
type Volume struct {
	Guest    string // path inside the guest, such as /data
	Host     string // host folder
	Writable bool   // read-only unless set
}

// Config is what stays the same for every call of one route: the entrypoint,
// the volumes and the memory cap. Prepare turns it into a Program once.
type Config struct {
	Entrypoint string   // "" means _start
	Volumes    []Volume // preopened folders
	// MemoryLimit caps the guest's linear memory in bytes; memory.grow fails
	// beyond it. 0 means the module's own maximum (4 GiB at most).
	MemoryLimit uint64
	// MaxOpenFiles caps the files an instance holds open in its volumes
	// (the preopened volumes included); an open beyond it fails with
	// EAGAIN and the guest goes on. 0 means DefaultMaxOpenFiles; negative,
	// no cap.
	MaxOpenFiles int
	// Scratch is the guest path of a fresh, empty, writable folder each
	// call gets, removed after it (scratch.go); "" gives none.
	Scratch string
	// ScratchSize caps the bytes the scratch folder holds (scratchquota.go);
	// 0 means DefaultScratchSize.
	ScratchSize int64
	// Outbound is what the guests may reach through wasi_experimental_http
	// (outbound.go); nil: nothing.
	Outbound *Outbound
	// NoSnapshot runs a reactor's _initialize in every instance instead of
	// starting instances from a snapshot taken after it (snapshot.go).
	NoSnapshot bool
	// Preload names the libraries a ruby.wasm snapshot requires after
	// ruby-init (the interpreter's preload list; rubysnap.go).
	Preload []string
	// InitArgs and InitEnv are the command line (the interpreter and its
	// options, no script) and the environment a driver's wasigate_init
	// gets in its snapshot (driver.go): the interpreter's configuration,
	// never a request's.
	InitArgs, InitEnv []string
	// Reuse resets an instance whose request ended cleanly and keeps it
	// for the next request instead of closing it (reuse.go); ReuseMax
	// bounds the idle instances kept (0: 64).
	Reuse    bool
	ReuseMax int
	// App: the driver's init loads an application (a WSGI one: InitEnv
	// names it, driver.go). Its snapshot belongs to this Program alone
	// (Program.Close releases it) and an init that fails is Prepare's
	// error, wrapping ErrAppLoad, instead of a reason to run without one.
	App bool
	// Learn: the interpreter (a driver or Ruby) has no preload list and
	// learns one from what its runs import from the read-only volumes at
	// LearnRoots (learn.go), at most LearnMax names (0: DefaultLearnMax);
	// Learned, if not nil, is told of each retake.
	Learn      bool
	LearnRoots []string
	LearnMax   int
	Learned    func(LearnEvent)
}

// DefaultScratchSize is Config.ScratchSize when it is 0.
const DefaultScratchSize = 64 << 20

// DefaultMaxOpenFiles is Config.MaxOpenFiles when it is 0.
const DefaultMaxOpenFiles = 256

// Program is a module bound to a Config: what a route runs.
type Program struct {
	module  *Module
	entry   string
	init    bool         // call _initialize first (a reactor)
	ruby    *rubyExports // run as the Ruby interpreter (ruby.go)
	cfg     wazero.ModuleConfig
	mounts  []mount // volumes, given a files counter per call (fsConfig)
	files   int     // Config.MaxOpenFiles
	pool    *memoryPool
	scratch string // Config.Scratch
	// scratchSize: Config.ScratchSize, the default applied.
	scratchSize int64
	// locks: the module imports wasigate_lock, so a run gets a lock table
	// that is released when it ends (lock.go).
	locks bool
	// outbound: the module imports wasi_experimental_http, so a run gets
	// its per-run state under policy (outbound.go).
	outbound bool
	policy   *Outbound
	// snap: instances start from this snapshot (snapshot.go).
	snap     *snapshot
	snapInfo SnapshotInfo
	code     wazero.CompiledModule // what Run instantiates (bindCode)
	// warm: the idle instances when they are reused (reuse.go);
	// reuseReason says why not otherwise.
	warm        *warmPool
	reuseReason string
	own         bool // snap is this program's alone (Config.App)
	// learn: its runs report their imports and follow the learned
	// snapshots (learn.go).
	learn *learnAttach
}

// Prepare binds the module to a route's configuration. Everything that does
// not depend on the request is done here, once, and not per call.
//
// A module without _start that is a ruby.wasm reactor, prepared with no
// entrypoint, runs as a Ruby interpreter: see ruby.go. One that follows
// the init/run ABI runs wasigate_run: see driver.go.
func (m *Module) Prepare(c Config) (*Program, error) {
	entry := c.Entrypoint
	var rb *rubyExports
	driver := false
	if entry == "" && !m.HasExport("_start") {
		rb = m.ruby()
		driver = rb == nil && m.isDriver()
	}
	if entry == "" {
		entry = "_start"
	}
	if driver {
		entry = driverRun
		if err := m.checkDriver(); err != nil {
			return nil, err
		}
	} else if rb != nil {
		entry = "ruby-init"
		if err := m.engine.provideRubyStubs(context.Background(), m); err != nil {
			return nil, err
		}
		if err := m.checkImports(); err != nil {
			return nil, err
		}
	} else if err := m.Check(entry); err != nil {
		return nil, err
	}
	var mounts []mount
	for _, v := range c.Volumes {
		st, err := os.Stat(v.Host)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Guest, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("volume %s: %s is not a folder", v.Guest, v.Host)
		}
		fs, err := m.engine.volumeFS(v)
		if err != nil {
			return nil, err
		}
		root, err := m.engine.openRoot(v.Host) // the one volumeFS uses
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Guest, err)
		}
		mounts = append(mounts, mount{guest: v.Guest, fs: fs, host: v.Host, writable: v.Writable, root: root})
	}
	maxFiles := c.MaxOpenFiles
	if maxFiles == 0 {
		maxFiles = DefaultMaxOpenFiles
	}
	if _, err := fsConfig(mounts, maxFiles); err != nil {
		return nil, err
	}
	if err := m.checkMemoryMin(m.engine.pools.get(c.MemoryLimit).limit); err != nil {
		return nil, err
	}
	p := &Program{
		module:      m,
		entry:       entry,
		init:        entry != "_start" && entry != "_initialize" && m.HasExport("_initialize"),
		scratch:     c.Scratch,
		scratchSize: cmp.Or(c.ScratchSize, DefaultScratchSize),
		ruby:        rb,
		cfg:         m.base,
		mounts:      mounts,
		files:       maxFiles,
		pool:        m.engine.pools.get(c.MemoryLimit),
	}
	p.outbound, p.policy = m.importsModule(OutboundModuleName), c.Outbound
	p.locks = m.importsModule(LockModuleName)
	if p.init && c.App && driver && !c.NoSnapshot {
		if err := p.useAppSnapshot(c); err != nil {
			return nil, err
		}
	} else if p.init {
		p.useSnapshot(c)
	} else if entry == "_start" && m.goFallback != "" {
		p.snapInfo.Reason = m.goFallback
	}
	if err := m.bindCode(p); err != nil {
		return nil, err
	}
	p.setupReuse(c)
	p.attachLearn(c)
	return p, nil
}

// Module returns the compiled module the program runs.
func (p *Program) Module() *Module { return p.module }

// Call is one run of a program.
type Call struct {
	Args   []string
	Env    []string // KEY=value
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Instantiate is set by Run to the time spent creating the instance,
	// before the entrypoint ran.
	Instantiate time.Duration
}

// ExitError is returned by Run when the guest exited with a non-zero code.
type ExitError struct{ Code uint32 }

func (e *ExitError) Error() string { return fmt.Sprintf("guest exited with code %d", e.Code) }

// ExitCode returns the guest's exit code.
func (e *ExitError) ExitCode() int { return int(e.Code) }

// Run instantiates a fresh instance, calls the entrypoint and closes the
// instance. The instance is stopped when ctx is done; Run then returns an
// error wrapping ctx's error (context.Cause when there is one).
//
// # Errors
//
//   - *ExitError: the guest called proc_exit with a non-zero code.
//   - an error wrapping context.DeadlineExceeded or context.Canceled (or the
//     context's cause): the instance was stopped.
//   - any other error: a trap (unreachable, out-of-bounds access, stack
//     overflow) or an instantiation failure.
//
// # Notes
//
// On Linux the guest runs on an OS thread whose CPU priority is lowered
// once it has run longer than Options.NiceAfter (tune.Guard.Run).
func (p *Program) Run(ctx context.Context, c *Call) error {
	if p.learn != nil {
		return p.learn.run(ctx, c)
	}
	env, err := newEnviron(c.Env)
	if err != nil {
		return fmt.Errorf("guest not started: %w", err)
	}
	ctx = context.WithValue(ctx, environKey{}, env)
	if p.outbound {
		var finish func()
		ctx, finish = withOutbound(ctx, p.policy)
		defer finish() // after the instance is closed: deferred first
	}
	st := newCallState(c.Args)
	if p.warm != nil && !p.warm.off.Load() {
		if err := p.runWarm(ctx, c, st); err != errWarmOff {
			return err
		}
	}
	st.reserved = 3 + uint32(len(p.mounts))
	if p.scratch != "" {
		st.reserved++
	}
	ctx = withCallState(ctx, st)
	cfg := p.config(ctx, c)
	var scratch *mount
	if p.scratch != "" {
		dir, err := os.MkdirTemp("", "wasigate-scratch-")
		if err != nil {
			return fmt.Errorf("scratch: %w", err)
		}
		defer os.RemoveAll(dir)
		var closeScratch func()
		if cfg, scratch, closeScratch, err = p.withScratch(cfg, dir); err != nil {
			return fmt.Errorf("guest not started: scratch: %w", err)
		}
		defer closeScratch()
	}
	if p.locks {
		// Released after the instance is closed (deferred before it),
		// whether it returned, trapped or was stopped: a guest killed at
		// its deadline inside a transaction leaves no lock behind.
		var release func()
		ctx, release = p.withLocks(ctx, scratch)
		defer release()
	}
	var mem *callMemory
	if p.pool != nil {
		mem = &callMemory{pool: p.pool}
		ctx = experimental.WithMemoryAllocator(ctx, mem)
		// Belt and braces: whatever wazero did, the pooled memory is not
		// kept once Run returns (see release).
		defer mem.release()
	}

	start := time.Now()
	mod, err := p.module.rt.InstantiateModule(ctx, p.compiledModule(), cfg)
	c.Instantiate = time.Since(start)
	if err != nil {
		return p.result(ctx, err)
	}
	defer closeInstance(ctx, mod)
	// The deadline watcher stops before the instance is closed.
	defer p.module.arm(ctx, mod)()
	// Only the guest's own code runs under the priority guard: creating
	// and closing the instance is bounded work, and a thread locked for it
	// too parked and handed its CPU over whenever a lock in wazero or the
	// memory pool was contended, which doubled the tail of short guests
	// under load.
	err = p.result(ctx, p.module.engine.guard.Run(func() error {
		if err := p.module.callStart(ctx, mod); err != nil {
			return err
		}
		if p.init {
			if err := call(ctx, mod, "_initialize"); err != nil {
				return err
			}
		}
		if p.ruby != nil {
			return p.runRuby(ctx, mod, c.Args)
		}
		return call(ctx, mod, p.entry)
	}))
	if guestEnded != nil {
		guestEnded()
	}
	// Read before the deferred Close hands the memory back to the pool.
	if err != nil && ctx.Err() == nil && mem != nil && mem.refused() {
		err = &MemoryError{Limit: p.pool.limit, Err: err}
	}
	return err
}

// guestEnded, when not nil, is called as soon as a guest's code has
// returned, before its instance is closed: BenchmarkTripGap measures the
// time from the deadline to the trap without the instance's teardown.
var guestEnded func()

// closeInstance closes an instance and releases its memory and files on
// every ending (issue 9).
//
// With WithCloseOnContextDone, wazero's watcher goroutine
// (ModuleInstance.closeModuleOnCanceledOrTimeout in
// internal/wasm/module_instance.go) marks the instance closed with
// exitCodeFlagResourceNotClosed when ctx ends, and leaves releasing the
// resources to the next FailIfClosed. The compiler's call engine
// (callEngine.call in internal/engine/wazevo/call_engine.go) calls
// FailIfClosed only on its normal return path; when the guest was inside a
// host function that panicked (our sleep, proc_exit) the recovered path
// does not. Close is then a no-op (Closed is already set), and the memory
// and the open files stayed allocated for ever. FailIfClosed on the
// concrete *wasm.ModuleInstance releases them; calling it after Close also
// covers the watcher winning the race after the call returned.
func closeInstance(ctx context.Context, mod api.Module) {
	ctx = context.WithoutCancel(ctx)
	_ = mod.Close(ctx)
	if f, ok := mod.(interface{ FailIfClosed() error }); ok {
		_ = f.FailIfClosed()
	}
}

// config is the module config of one call, without its environment.
func (p *Program) config(ctx context.Context, c *Call) wazero.ModuleConfig {
	// The environment and the arguments go through ctx (environ.go,
	// callstate.go), not WithEnv and WithArgs.
	cfg := p.cfg
	if len(p.mounts) > 0 {
		fsc, _ := fsConfig(p.mounts, p.files) // checked by Prepare
		cfg = cfg.WithFSConfig(fsc)
	}
	if c.Stdin != nil {
		cfg = cfg.WithStdin(c.Stdin)
	}
	if c.Stdout != nil {
		cfg = cfg.WithStdout(c.Stdout)
	}
	if c.Stderr != nil {
		cfg = cfg.WithStderr(c.Stderr)
	}
	// wazero's own sleep ignores the context: a guest sleeping in
	// poll_oneoff would outlive its deadline. This one wakes up and ends
	// the guest when the run is stopped. It is poll_oneoff's only wait:
	// wazero 1.12 reports a stdin that is an io.Reader (not an *os.File)
	// ready at once, so a guest polling stdin then blocks in fd_read, on
	// the caller's reader, which must return when ctx ends (issue 9).
	return cfg.WithNanosleep(nanosleep(func() context.Context { return ctx }))
}

// nanosleep is the sleep of an instance whose call's context get returns.
func nanosleep(get func() context.Context) func(int64) {
	return func(ns int64) {
		ctx := get()
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			code := sys.ExitCodeContextCanceled
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				code = sys.ExitCodeDeadlineExceeded
			}
			panic(sys.NewExitError(code))
		}
	}
}

// callStart runs the module's start function, which the deadline
// rewrite turned into an export (rewrite.StartExport) so that it runs
// with the deadline armed. Every instance runs it right after
// instantiation, before anything else; a snapshot ran it in its init and
// no longer exports it.
func (m *Module) callStart(ctx context.Context, mod api.Module) error {
	if !m.start {
		return nil
	}
	fn := mod.ExportedFunction(rewrite.StartExport)
	if fn == nil {
		return nil
	}
	_, err := fn.Call(ctx)
	return err
}

func call(ctx context.Context, mod api.Module, name string) error {
	fn := mod.ExportedFunction(name)
	if fn == nil {
		return fmt.Errorf("no exported function %q", name)
	}
	_, err := fn.Call(ctx)
	return err
}

// result turns wazero's ways of ending into Run's errors.
func (p *Program) result(ctx context.Context, err error) error {
	var exit *sys.ExitError
	if err == nil || (errors.As(err, &exit) && exit.ExitCode() == 0) {
		if ctx.Err() != nil {
			// The run was stopped, and the guest ended well only because
			// the stop unblocked it (a read that the host ended gave it
			// EOF) before its next deadline check: still a stopped run,
			// as it would have been under wazero's own check.
			return fmt.Errorf("guest stopped: %w", context.Cause(ctx))
		}
		return nil
	}
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			if cause := context.Cause(ctx); cause != nil {
				return fmt.Errorf("guest stopped: %w", cause)
			}
			if exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
				return fmt.Errorf("guest stopped: %w", context.DeadlineExceeded)
			}
			return fmt.Errorf("guest stopped: %w", context.Canceled)
		default:
			if ctx.Err() != nil {
				// It failed because it was stopped: a write or read the
				// stop ended returned an error to it.
				return fmt.Errorf("guest stopped: %w (exit code %d)", context.Cause(ctx), exit.ExitCode())
			}
			return &ExitError{Code: exit.ExitCode()}
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("guest stopped: %w (%v)", context.Cause(ctx), err)
	}
	return fmt.Errorf("guest trapped: %w", err)
}

func splitEnv(kv string) (string, string) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:]
		}
	}
	return kv, ""
}

// Entrypoint returns the function the program calls.
func (p *Program) Entrypoint() string { return p.entry }
