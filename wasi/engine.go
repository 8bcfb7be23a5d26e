package wasi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
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
	// DefaultNiceAfter; negative keeps every guest at normal priority.
	NiceAfter time.Duration
	// Tune lets the engine raise GOMAXPROCS and GOGC while guests run
	// past NiceAfter, and restore them afterwards (see tune.go); a
	// setting given in the environment is left alone. For a server: it
	// changes process-wide settings.
	Tune bool
	// SnapshotInitTimeout bounds the init run to take a snapshot (issue
	// 12); 0 means DefaultSnapshotInitTimeout.
	SnapshotInitTimeout time.Duration
}

// Engine is the one wazero runtime of a process. Every Module it compiles
// must be run by it: wazero cannot instantiate a compiled module in another
// runtime.
type Engine struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	sealed   *sealedCache // signs wazero's cache entries (cache.go)
	cacheDir string
	workers  int
	nice     time.Duration // Options.NiceAfter
	tune     *tuner
	runners  chan *job // idle runner goroutines receive here
	// canRestore: the process may raise a lowered thread's priority
	// again, so guests run on the caller's thread (priority.go).
	canRestore  bool
	pools       poolSet
	snapTimeout time.Duration // Options.SnapshotInitTimeout

	mu    sync.Mutex
	hosts map[string]bool // import module names the host provides

	stubMu sync.Mutex // instantiating interpreter stubs (ruby.go)

	rootsMu sync.Mutex
	roots   map[string]*openRoot // volume folders, shared (volume.go)
	open    atomic.Int64         // Modules compiled and not yet closed
}

// NewEngine creates the runtime and instantiates the WASI preview 1 host
// module in it.
//
// The runtime closes guests when their context is done
// (WithCloseOnContextDone): without it a looping guest ignores its deadline.
func NewEngine(ctx context.Context, opts Options) (*Engine, error) {
	cfg := wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true)
	e := &Engine{cacheDir: opts.CacheDir, workers: opts.CompilationWorkers, nice: opts.NiceAfter, tune: newTuner(opts.Tune && canNice), runners: make(chan *job), hosts: map[string]bool{}, snapTimeout: opts.SnapshotInitTimeout}
	e.canRestore = e.niceAfter() > 0 && probeRestore()
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(opts.CacheDir, "wazero"))
		if err != nil {
			return nil, fmt.Errorf("cache dir %s: %w", opts.CacheDir, err)
		}
		if e.sealed, err = newSealedCache(opts.CacheDir); err != nil {
			return nil, fmt.Errorf("cache dir %s: %w", opts.CacheDir, err)
		}
		e.cache = cache
		cfg = cfg.WithCompilationCache(cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if err := instantiateWASI(ctx, e.rt); err != nil {
		e.rt.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	e.hosts[wasi_snapshot_preview1.ModuleName] = true
	return e, nil
}

// instantiateWASI instantiates wazero's WASI preview 1 module into rt with
// wasigate's environ functions (environ.go).
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	exportEnviron(b)
	_, err := b.Instantiate(ctx)
	return err
}

// Runtime exposes the wazero runtime so that host modules (for example the
// stubs an interpreter needs) can be instantiated into it before compiling
// the modules that import them. Call ProvideHostModule afterwards.
func (e *Engine) Runtime() wazero.Runtime { return e.rt }

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
	return int(e.pools.stats.instances.Load()), uint64(e.pools.stats.bytes.Load())
}

// MemoryRescued counts the pooled memories Run had to give back itself
// because the instance's close had not (issue 9); it should stay 0.
func (e *Engine) MemoryRescued() int { return int(e.pools.stats.rescued.Load()) }

// Close releases the runtime, every module and the pooled memory.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		e.cache.Close(ctx)
	}
	e.pools.release()
	e.rootsMu.Lock()
	for _, r := range e.roots {
		r.root.Close()
	}
	e.roots = nil
	e.rootsMu.Unlock()
	return err
}

// CompileFile reads and compiles the module at path. A .wat file is first
// converted with wat2wasm, which must be on PATH.
func (e *Engine) CompileFile(ctx context.Context, path string) (*Module, error) {
	wasm, err := ReadModuleFile(path)
	if err != nil {
		return nil, err
	}
	return e.Compile(ctx, path, wasm)
}

// ErrNoWat2Wasm is returned for .wat modules when wat2wasm is not on PATH.
var ErrNoWat2Wasm = errors.New("wat2wasm not found on PATH (Debian: apt-get install wabt)")

// ReadModuleFile returns the binary module at path, converting .wat text
// with wat2wasm.
func ReadModuleFile(path string) ([]byte, error) {
	if strings.HasSuffix(path, ".wat") {
		bin, err := exec.LookPath("wat2wasm")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, ErrNoWat2Wasm)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "--output=-", path)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("wat2wasm %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return wasm, nil
}

// Compile compiles wasm once, through the on-disk cache when the engine has
// one. name is used in errors and logs.
func (e *Engine) Compile(ctx context.Context, name string, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	m := &Module{engine: e, Name: name, Size: len(wasm), Hash: hex.EncodeToString(sum[:])}
	var snapshot map[string]bool
	if e.sealed != nil {
		snapshot, m.Cached = e.sealed.before(m.Hash)
	}
	if e.workers > 0 {
		ctx = experimental.WithCompilationWorkers(ctx, e.workers)
	}
	// Nothing reads the bytes before this check: they may come from
	// anyone who can drop a file in a scripts folder (issue 9).
	if err := checkBounds(wasm); err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	start := time.Now()
	// Join Go's thousands of data segments once, here, rather than have
	// every instance evaluate and copy them one by one (issue 4). The
	// rewritten module is what wazero compiles and caches.
	if out, before, after, err := coalesceData(wasm, coalesceGap); err == nil {
		wasm = out
		m.Segments, m.SegmentsJoined = before, after
	}
	compiled, err := e.rt.CompileModule(ctx, wasm)
	if e.sealed != nil {
		e.sealed.after(m.Hash, snapshot)
	}
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	m.CompileTime = time.Since(start)
	m.compiled = compiled
	e.open.Add(1)
	m.prepare()
	m.keepForSnapshot(wasm)
	return m, nil
}

// OpenModules is the number of modules compiled and not yet closed, for
// metrics and for tests that check reloads release what they replace.
func (e *Engine) OpenModules() int { return int(e.open.Load()) }

// DefaultCacheDir is the compilation cache used when the configuration
// names none: wasigate under the user's cache folder, or "" when the user
// has none. Never under /tmp, where another user could prepare it
// (issue 10).
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "wasigate")
}
