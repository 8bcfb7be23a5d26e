package router

import (
	"context"
	"time"

	"github.com/wasigate/wasigate/host"
)

// Loader turns the modules and scripts a configuration names into what
// host handlers run. Router knows nothing of how: package wasi/cgi
// implements it over wazero, and cmd/wasigate wires the two (issue 11).
type Loader interface {
	// Load builds (for a source) and compiles the module at path.
	Load(ctx context.Context, path string) (Module, error)
	// Scripts returns the scripts of one route, each built when first run
	// and again when it changes. name gives a script's module name for
	// errors; built, if not nil, is told of each successful build and
	// whether the script's instances start from a snapshot, or why not
	// (issue 12; "" for a program that has no init to snapshot).
	Scripts(c RunConfig, name func(path string) string, built func(path string, cached bool, d time.Duration, snapshot string)) Scripts
	// SourceKind is the kind of source at path (".go", by its extension
	// or a folder's files), or "" when the loader neither runs nor
	// builds it.
	SourceKind(path string) string
}

// The types of the Loader seam are aliases of type literals, not named
// types, so that wasi/cgi implements Loader without importing router (the
// import rules); wasi/cgi spells the same literals.
type (
	// Mount is a host folder the guest sees at Guest.
	Mount = struct {
		Guest    string
		Host     string
		Writable bool
	}
	// RunConfig is what stays the same for every run of one route: the
	// entrypoint ("" is _start), the volumes, the linear memory and open
	// files caps (0: the loader's defaults), and the guest path of a
	// fresh writable folder each run gets ("" none); NoSnapshot turns
	// off starting a reactor's instances from a snapshot of its init.
	RunConfig = struct {
		Entrypoint   string
		Volumes      []Mount
		MemoryLimit  uint64
		MaxOpenFiles int
		Scratch      string
		NoSnapshot   bool           // run a reactor's init per request (issue 12)
		Preload      []string       // what a ruby.wasm snapshot requires after ruby-init
		Outbound     OutboundConfig // config_outbound.go
		// InitArgs, InitEnv: the interpreter's command line (no script)
		// and environment, which a driver's snapshot init gets.
		InitArgs, InitEnv []string
		ScratchSize       int64 // bytes the scratch folder may hold (0: the loader's default)
		// BuildSlots are the build slots of the route's tenant (nil: the
		// loader's own): one tenant's builds never hold another's.
		BuildSlots chan struct{}
		Reuse      bool // reset and keep instances that ended cleanly (wasi.Config.Reuse)
		ReuseMax   int
		// App: the driver's init also loads the application InitEnv
		// names (wsgi.go); the snapshot is the program's own, released
		// by its Close, and a failed init is Bind's error.
		App bool
		// Learn: the interpreter has no preload list and learns one from
		// the modules requests import from its read-only volumes at
		// LearnRoots (interpreter_learn.go); Learned is told of each
		// background retake of its snapshot.
		Learn      bool
		LearnRoots []string
		Learned    func(added, dropped []string, total int, image uint64, init time.Duration, err error)
	}
	// OutboundConfig is a route's outbound HTTP policy (issue 16): its
	// allowed hosts and its tenant's (nil: no cap), the limits, the
	// tenant's slots of requests in flight, and the metric hook.
	OutboundConfig = struct {
		AllowedHosts []string
		CapHosts     []string
		MaxRequests  int
		Timeout      time.Duration
		MaxBody      int64
		Slots        chan struct{}
		Observe      func(tenant, host, outcome string)
	}
	// ModuleInfo is what a loaded module reports for progress and metrics.
	ModuleInfo = struct {
		Size        int
		Cached      bool // found in the compilation cache
		CompileTime time.Duration
		// Deadline is how its guests are stopped at their deadline.
		Deadline string
		// Code is the bytes of its machine code, 0 when unknown;
		// Released, that it is no longer in memory because every program
		// of the module runs from a snapshot (whose code the snapshot's
		// summary gives).
		Code     int64
		Released bool
	}
	// Program is a module bound to a RunConfig.
	Program = interface {
		Run(ctx context.Context, inv *host.Invocation) error
		Entrypoint() string
	}
	// Module is a compiled module.
	Module = interface {
		Info() ModuleInfo
		HasExport(name string) bool
		IsRuby() bool // a ruby.wasm reactor, which runs scripts without _start
		Bind(c RunConfig) (Program, error)
		Close(ctx context.Context) error
	}
	// Scripts are the built-on-demand scripts of one route. Acquire holds
	// the script's module until release is called (the runner calls it
	// when its run ends; the caller too, for a run that never starts).
	Scripts = interface {
		Acquire(ctx context.Context, path string) (r host.Runner, release func(), err error)
		Build(ctx context.Context, path string) error
		Close()
	}
)
