package wasi

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/outbound"
	"github.com/wasigate/wasigate/wasi/internal/snap"
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

// Kind is how the module runs when Prepare is given no entrypoint: a
// command's _start, a driver's wasigate_run (driver.go), or the Ruby
// interpreter (ruby.go).
func (m *Module) Kind() seam.Kind {
	switch {
	case m.HasExport("_start"):
		return seam.KindCommand
	case m.ruby() != nil:
		return seam.KindRuby
	case m.isDriver():
		return seam.KindDriver
	}
	return seam.KindOther
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

// Config is what stays the same for every call of one route: the
// entrypoint, the volumes, the limits and the outbound policy (see
// seam.RunConfig). Prepare turns it into a Program once.
type Config = seam.RunConfig

// Program is a module bound to a Config: what a route runs.
type Program struct {
	module  *Module
	entry   string
	init    bool         // call _initialize first (a reactor)
	ruby    *rubyExports // run as the Ruby interpreter (ruby.go)
	cfg     wazero.ModuleConfig
	mounts  []guestfs.Mount // volumes, given a files counter per call (guestfs.Config)
	files   int             // Config.MaxOpenFiles
	pool    *snap.Pool
	scratch string // Config.Scratch
	// scratchSize: Config.ScratchSize, the default applied.
	scratchSize int64
	// locks: the module imports wasigate_lock, so a run gets a lock table
	// that is released when it ends (lock.go).
	locks bool
	// outbound: the module imports wasi_experimental_http, so a run gets
	// its per-run state under policy (internal/outbound).
	outbound bool
	policy   *outbound.Policy
	// snap: instances start from this snapshot (snapshot.go).
	snap     *snapshot
	snapInfo seam.Snapshot
	code     wazero.CompiledModule // what Run instantiates (bindCode)
	// warm: the idle instances when they are reused (reuse.go);
	// reuseReason says why not otherwise.
	warm        *warmPool
	reuseReason string
	own         bool // snap is this program's alone (Config.App)
	// fresh: the retakes of its snapshot (snapage.go).
	fresh *freshness
}

// Prepare binds the module to a route's configuration. Everything that does
// not depend on the request is done here, once, and not per call.
//
// A module without _start that is a ruby.wasm reactor, prepared with no
// entrypoint, runs as a Ruby interpreter: see ruby.go. One that follows
// the init/run ABI runs wasigate_run: see driver.go.
func (m *Module) Prepare(c Config) (*Program, error) {
	policy, err := newOutbound(c.Outbound)
	if err != nil {
		return nil, err
	}
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
	var mounts []guestfs.Mount
	for _, v := range c.Volumes {
		st, err := os.Stat(v.Host)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Guest, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("volume %s: %s is not a folder", v.Guest, v.Host)
		}
		root, err := m.engine.roots.Open(v.Host)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Guest, err)
		}
		mounts = append(mounts, guestfs.Mount{Guest: v.Guest, FS: guestfs.VolumeFS(root, v.Writable), Host: v.Host, Writable: v.Writable, Root: root})
	}
	maxFiles := c.MaxOpenFiles
	if maxFiles == 0 {
		maxFiles = seam.DefaultMaxOpenFiles
	}
	if _, err := guestfs.Config(mounts, maxFiles); err != nil {
		return nil, err
	}
	if err := m.checkMemoryMin(m.engine.pools.Get(c.MemoryLimit).Limit()); err != nil {
		return nil, err
	}
	p := &Program{
		module:      m,
		entry:       entry,
		init:        entry != "_start" && entry != "_initialize" && m.HasExport("_initialize"),
		scratch:     c.Scratch,
		scratchSize: cmp.Or(c.ScratchSize, seam.DefaultScratchSize),
		ruby:        rb,
		cfg:         m.base,
		mounts:      mounts,
		files:       maxFiles,
		pool:        m.engine.pools.Get(c.MemoryLimit),
	}
	p.outbound, p.policy = m.importsModule(outbound.ModuleName), policy
	p.locks = m.importsModule(lockModuleName)
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
	return p, nil
}

// Module returns the compiled module the program runs.
func (p *Program) Module() *Module { return p.module }
