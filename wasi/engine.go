package wasi

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/outbound"
	"github.com/wasigate/wasigate/wasi/internal/rewrite"
	"github.com/wasigate/wasigate/wasi/internal/snap"
	"github.com/wasigate/wasigate/wasi/toolchain"
	"github.com/wasigate/wasigate/wasi/tune"
)

// Options configure an Engine. The zero value works: no on-disk cache and
// as many compilation workers as wazero picks.
type Options struct {
	// CacheDir is the folder of wazero's on-disk compilation cache. Empty
	// means compile in memory only.
	CacheDir string
	// CompilationWorkers is passed to wazero's experimental
	// WithCompilationWorkers for each compile; 0 keeps wazero's default.
	CompilationWorkers int
	// NiceAfter is how much CPU time a guest uses at the process's CPU
	// priority. Past it, on Linux, the thread running it drops to the
	// lowest priority (nice 19) until the guest ends, so that spinning
	// guests get only the CPU time that short requests leave. 0 means
	// tune.DefaultNiceAfter; negative keeps every guest at normal priority.
	NiceAfter time.Duration
	// Tune lets the engine raise GOGC while guests run past NiceAfter,
	// and restore it afterwards (see wasi/tune); a GOGC given in the
	// environment is left alone. For a server: it changes a process-wide
	// setting. GOMAXPROCS is set once, when the first such engine is
	// made, never while guests run: a change stops the world, which waits
	// on every running guest.
	Tune bool
	// Deadline is how a guest is stopped at its deadline: DeadlineInstrument
	// (also "") or DeadlineWazero (deadline.go).
	Deadline string
	// SnapshotInitTimeout bounds the init run to take a snapshot (issue
	// 12); 0 means seam.DefaultSnapshotInitTimeout.
	SnapshotInitTimeout time.Duration
	// CacheMaxAge is how long compiled code and snapshots stay in the
	// cache folder unused; 0 means seam.DefaultCacheMaxAge (14 days).
	CacheMaxAge time.Duration
	// MaxModuleSize is the largest module file read, dropped or built;
	// 0 means toolchain.DefaultMaxModuleSize (128 MiB). A larger one is refused
	// with ErrTooLarge from its size, unread.
	MaxModuleSize int64
	// CacheMaxSize bounds the cache folder (cachetrim.go); 0 means
	// seam.DefaultCacheMaxSize (2 GiB), negative no bound.
	CacheMaxSize int64
	// SnapshotMaxAge is the age past which an interpreter's snapshot is
	// taken again with fresh randomness (snapage.go); 0 means
	// seam.DefaultSnapshotMaxAge, negative never.
	SnapshotMaxAge time.Duration
	// Retaken, if not nil, is told of each background retake of an
	// interpreter's snapshot (snapsrc.go), and of each that failed, when
	// the program whose run started it has no Config.Retaken.
	Retaken func(seam.RetakeEvent)
	// ReuseIdle is how long a reused instance waits idle before it is
	// closed; 0 means seam.DefaultReuseIdle (30 s). ReuseMemory bounds the
	// bytes of memory all idle instances hold as their own together;
	// 0 means seam.DefaultReuseMemory (512 MiB). See reuse.go.
	ReuseIdle   time.Duration
	ReuseMemory int64
}

// Engine is the one wazero runtime of a process. Every Module it compiles
// must be run by it: wazero cannot instantiate a compiled module in another
// runtime.
type Engine struct {
	rt          wazero.Runtime
	cache       wazero.CompilationCache
	sealed      *sealedCache // signs wazero's cache entries (cache.go)
	cacheDir    string
	workers     int
	guard       *tune.Guard // CPU priority and runtime tuning (wasi/tune)
	bg          *background // snapshot retakes, stopped by Close (background.go)
	pools       snap.Pools
	dl          deadlines              // deadline.go
	snapTimeout time.Duration          // Options.SnapshotInitTimeout
	inits       snap.Running           // snapshot inits not yet returned (snapinit.go)
	maxAge      time.Duration          // Options.CacheMaxAge, the default applied
	snaps       *snap.Store            // the cached snapshots; nil without sealed
	maxModule   int64                  // Options.MaxModuleSize, the default applied
	holds       cacheHolds             // cache files open modules use (cachetrim.go)
	snapAge     time.Duration          // Options.SnapshotMaxAge (snapage.go)
	retakes     retakeSlot             // one snapshot retake at a time (snapsrc.go)
	retaken     func(seam.RetakeEvent) // Options.Retaken
	reuse       reuseLimits            // Options.ReuseIdle and ReuseMemory (reuse.go)
	shared      sharedCode             // compiled snapshot modules (sharedcode.go)

	mu    sync.Mutex
	hosts map[string]bool // import module names the host provides

	stubMu sync.Mutex // instantiating interpreter stubs (ruby.go)

	roots guestfs.Roots // volume folders, shared
	open  atomic.Int64  // Modules compiled and not yet closed

	// learnImageMax caps a learned snapshot's image: DefaultLearnImageMax,
	// smaller in tests.
	learnImageMax uint64
}

// NewEngine creates the runtime and instantiates the WASI preview 1 host
// module in it.
//
// A looping guest ignores its deadline unless its module is instrumented
// (the default) or the runtime closes guests when their context is done
// (WithCloseOnContextDone, Options.Deadline = DeadlineWazero): deadline.go.
func NewEngine(ctx context.Context, opts Options) (*Engine, error) {
	instrument, err := checkDeadlineMode(opts.Deadline)
	if err != nil {
		return nil, err
	}
	cfg := wazero.NewRuntimeConfigCompiler()
	e := &Engine{cacheDir: opts.CacheDir, workers: opts.CompilationWorkers, guard: tune.NewGuard(opts.NiceAfter, opts.Tune), hosts: map[string]bool{}, snapTimeout: opts.SnapshotInitTimeout,
		maxAge: cmp.Or(opts.CacheMaxAge, seam.DefaultCacheMaxAge), maxModule: cmp.Or(opts.MaxModuleSize, toolchain.DefaultMaxModuleSize),
		snapAge: opts.SnapshotMaxAge, retaken: opts.Retaken, reuse: newReuseLimits(opts), learnImageMax: defaultLearnImageMax, bg: newBackground()}
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(opts.CacheDir, "wazero"))
		if err != nil {
			return nil, fmt.Errorf("cache dir %s: %w", opts.CacheDir, err)
		}
		if e.sealed, err = newSealedCache(opts.CacheDir, e.maxAge); err != nil {
			return nil, fmt.Errorf("cache dir %s: %w", opts.CacheDir, err)
		}
		e.snaps = snap.NewStore(opts.CacheDir, e.maxAge, e.sealed.key)
		e.sealed.maxSize = cmp.Or(opts.CacheMaxSize, seam.DefaultCacheMaxSize)
		e.sealed.root = opts.CacheDir
		e.sealed.isHeld = e.holds.held
		e.sealed.trim()
		e.sealed.keep()
		e.cache = cache
		cfg = cfg.WithCompilationCache(cache)
	}
	e.dl = deadlines{instrument: instrument}
	e.rt = wazero.NewRuntimeWithConfig(ctx, cfg.WithCloseOnContextDone(!instrument))
	if err := instantiateWASI(ctx, e.rt); err != nil {
		e.rt.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	e.hosts[wasi_snapshot_preview1.ModuleName] = true
	e.hosts[outbound.ModuleName] = true
	e.hosts[lockModuleName] = true
	e.hosts[learnModuleName] = true
	return e, nil
}

// instantiateWASI instantiates wazero's WASI preview 1 module into rt with
// wasigate's environ functions (environ.go), wasigate_lock (lock.go) and
// wasi_experimental_http (internal/outbound) and wasigate_learn (learnreport.go):
// every runtime of the engine offers all four.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	exportEnviron(b)
	if err := exportCallState(ctx, rt, b); err != nil {
		return err
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return err
	}
	if err := instantiateLock(ctx, rt); err != nil {
		return err
	}
	if err := instantiateLearn(ctx, rt); err != nil {
		return err
	}
	return outbound.Instantiate(ctx, rt)
}

// ProvideHostModule records that imports from the named module are satisfied
// by the host, so Module.Check accepts them.
func (e *Engine) ProvideHostModule(name string) {
	e.mu.Lock()
	e.hosts[name] = true
	e.mu.Unlock()
}

// MemoryInUse returns how many pooled linear memories are in use (one per
// running instance) and their sizes added up, in bytes.
func (e *Engine) MemoryInUse() (instances int, bytes uint64) {
	return int(e.pools.Stats().Instances.Load()), uint64(e.pools.Stats().Bytes.Load())
}

// MemoryRescued counts the pooled memories Run had to give back itself
// because the instance's close had not (every ending must give back its memory); it should stay 0.
func (e *Engine) MemoryRescued() int { return int(e.pools.Stats().Rescued.Load()) }

// Close releases the runtime, every module and the pooled memory.
func (e *Engine) Close(ctx context.Context) error {
	e.bg.close()
	if !e.inits.Wait(initCloseWait) {
		// Unmapping code and memory under a running guest would crash
		// the process; it is ending or reloading anyway.
		return errInitRunning
	}
	err := e.rt.Close(ctx)
	e.closeValidator(ctx)
	if e.cache != nil {
		e.cache.Close(ctx)
	}
	if e.sealed != nil {
		e.sealed.close()
	}
	e.pools.Release()
	e.roots.Close()
	return err
}

// CompileFile reads and compiles the module at path. A .wat file is first
// converted with wat2wasm, which must be on PATH. A module over the
// engine's MaxModuleSize is refused with ErrTooLarge, unread.
func (e *Engine) CompileFile(ctx context.Context, path string) (*Module, error) {
	wasm, err := e.readModule(path)
	if err != nil {
		return nil, err
	}
	m, err := e.Compile(ctx, path, wasm)
	if err != nil {
		return nil, err
	}
	m.readFrom(path)
	e.holdFor(m, e.markerPath(validatedKey(m.Hash)))
	return m, nil
}

// readModuleFile returns the binary module at path, converting .wat text
// with wat2wasm; a module over toolchain.DefaultMaxModuleSize is refused unread.
func readModuleFile(path string) ([]byte, error) {
	return readModuleMax(path, toolchain.DefaultMaxModuleSize)
}

// readModule is readModuleFile with the engine's MaxModuleSize.
func (e *Engine) readModule(path string) ([]byte, error) { return readModuleMax(path, e.maxModule) }

func readModuleMax(path string, max int64) ([]byte, error) {
	if toolchain.KindOf(path) == toolchain.WAT {
		return toolchain.WAT2WasmMax(path, max)
	}
	return toolchain.ReadModule(path, max)
}

// Load builds the source at path with b (nil: only .wasm and .wat, which
// wat2wasm converts in process) and compiles the module.
func (e *Engine) Load(ctx context.Context, path string, b *toolchain.Builder) (*Module, error) {
	wasmPath, fallback, fresh := path, "", false
	kind := toolchain.KindOf(path)
	switch {
	case kind == "":
		return nil, fmt.Errorf("not a module or script (want %s)", toolchain.KindsText())
	case kind == toolchain.Wasm:
	case kind == toolchain.WAT && b == nil:
	default:
		if b == nil {
			return nil, fmt.Errorf("%s sources need a builder", kind)
		}
		res, err := b.Build(ctx, path)
		if err != nil {
			return nil, err
		}
		wasmPath, fallback, fresh = res.Path, res.Fallback, !res.Cached
	}
	// Held from the build on, so that a trim of the cache between the
	// build and the compile does not take the file.
	var held []string
	if wasmPath != path {
		held = append(held, wasmPath)
		e.hold(wasmPath)
		defer e.unhold(wasmPath)
	}
	wasm, err := e.readModule(wasmPath)
	if err != nil {
		return nil, err
	}
	m, err := e.Compile(ctx, path, wasm)
	if err != nil {
		return nil, err
	}
	m.goFallback = fallback
	m.readFrom(wasmPath)
	e.holdFor(m, append(held, e.markerPath(validatedKey(m.Hash)))...)
	if fresh {
		e.trimCache()
	}
	return m, nil
}

// coalesceGap is the largest run of zero bytes between two active data
// segments that Coalesce fills in to join them. Go's linker
// splits its data into a segment per run of non-zero bytes (30,539
// segments for a plain "hello" with fmt), and wazero evaluates each
// segment's offset expression and copies it at every instantiation, which
// was 42% of instantiating a Go guest. Joining them is done once, before
// compiling. A negative value turns the rewrite off.
var coalesceGap = 4096

// Compile compiles wasm once, through the on-disk cache when the engine has
// one. name is used in errors and logs.
//
// # Errors
//
// A module is refused, before anything runs, with an error wrapping
// ErrModuleBounds (it declares more than it holds), ErrMalformedModule
// (wazero does not accept it as given), ErrReservedName or
// ErrNotInstrumented (deadline.go).
func (e *Engine) Compile(ctx context.Context, name string, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	m := &Module{engine: e, Name: name, Size: len(wasm), Hash: hex.EncodeToString(sum[:])}
	if e.workers > 0 {
		ctx = experimental.WithCompilationWorkers(ctx, e.workers)
	}
	// Nothing reads the bytes before this check: they may come from
	// anyone who can drop a file in a scripts folder
	// (cmd/wasigate/DECISIONS.md#module-bytes-are-checked-before-anything-decodes-them).
	if err := rewrite.CheckBounds(wasm); err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	// The cache's marker for these bytes says they were validated and
	// compiled before (validatedKey), so a cache hit costs no validation.
	start := time.Now()
	key := validatedKey(m.Hash)
	if e.sealed == nil || !e.sealed.seen(key) {
		if err := e.validate(ctx, wasm); err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
	}
	// Join Go's thousands of data segments once, here, rather than have
	// every instance evaluate and copy them one by one. The
	// rewritten module is what wazero compiles and caches.
	if out, before, after, err := rewrite.Coalesce(wasm, coalesceGap); err == nil {
		wasm = out
		m.Segments, m.SegmentsJoined = before, after
	}
	// Then add the deadline checks: after joining, so that both rewrites
	// are cached together in the compiled code.
	wasm, err := e.rewriteDeadline(m, wasm)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	m.rt = e.rt
	m.reuseBlock = rewrite.ReuseBlocker(wasm)
	var snapshot map[string]bool
	if e.sealed != nil {
		snapshot, m.Cached = e.sealed.before(key)
	}
	compiled, err := compileModule(ctx, e.rt, wasm)
	if e.sealed != nil {
		e.sealed.after(key, snapshot)
	}
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	_, m.start = compiled.ExportedFunctions()[rewrite.StartExport]
	if m.start && m.reuseBlock == nil {
		// The start function's effects are part of every instance's
		// starting state; a reset is not proven to restore them.
		m.reuseBlock = fmt.Errorf("%w: has a start function", rewrite.ErrNoReuse)
	}
	m.CompileTime = time.Since(start)
	m.setCode(compiled, wasm) // footprint.go
	e.open.Add(1)
	m.prepare()
	return m, nil
}

// validatedKey names the cache marker of a module's bytes. Markers are
// written only after the bytes passed validation, and the key differs
// from the plain hash that versions without validation used, so none of
// their markers lets a module skip it.
func validatedKey(hash string) string {
	sum := sha256.Sum256([]byte("wasigate validated module\x00" + hash))
	return hex.EncodeToString(sum[:])
}

// compileModule is rt.CompileModule made safe for untrusted bytes:
// wazero 1.12's function validator panics on some malformed bodies
// (FuzzInstrument found them; seeds e08ecbc5006a85a6 and others in
// internal/rewrite/testdata/fuzz/FuzzInstrument), and a module dropped in
// a scripts folder must not take the process down. The panic happens while
// validating, before anything is cached or shared, so recovering leaves
// the runtime as it was.
func compileModule(ctx context.Context, rt wazero.Runtime, wasm []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%w: wazero: %v", ErrMalformedModule, r)
		}
	}()
	c, err = rt.CompileModule(ctx, wasm)
	if err == nil {
		dropBodies(c) // compiled: wazero reads them no more (dropbodies.go)
	}
	return c, err
}

// OpenModules is the number of modules compiled and not yet closed, for
// metrics and for tests that check reloads release what they replace.
func (e *Engine) OpenModules() int { return int(e.open.Load()) }

// DefaultCacheDir is the compilation cache used when the configuration
// names none: wasigate under the user's cache folder, or "" when the user
// has none. Never under /tmp, where another user could prepare it
// (cmd/wasigate/DECISIONS.md#the-cache-is-the-servers-alone-and-signed).
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "wasigate")
}
