package cgi

import (
	"context"
	"fmt"
	"time"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// The types of router's Loader seam. Router declares them as aliases of
// these same type literals, so that a *Loader is a router.Loader without
// this package importing router; a drift between the two is a compile
// error where they meet (cmd/wasigate, and this package's tests).
type (
	// Mount is a host folder the guest sees at Guest.
	Mount = struct {
		Guest    string
		Host     string
		Writable bool
	}
	// RunConfig is what stays the same for every run of one route
	// (wasi.Config).
	RunConfig = struct {
		Entrypoint   string
		Volumes      []Mount
		MemoryLimit  uint64
		MaxOpenFiles int
		Scratch      string
		NoSnapshot   bool // run a reactor's init per request (issue 12)
		Preload      []string
		Outbound     OutboundConfig
		InitArgs     []string // wasi.Config.InitArgs
		InitEnv      []string
		ScratchSize  int64
		BuildSlots   chan struct{} // toolchain.Builder.WithSlots
		Reuse        bool          // reset and keep instances that ended cleanly (wasi.Config.Reuse)
		ReuseMax     int
		App          bool // wasi.Config.App: the init loads an application
		// Learn, LearnRoots: wasi.Config's; Learned is told of each
		// retake (wasi.LearnEvent).
		Learn      bool
		LearnRoots []string
		Learned    func(added, dropped []string, total int, image uint64, init time.Duration, err error)
	}
	// OutboundConfig is a route's outbound HTTP policy (wasi.OutboundPolicy)
	// and the hook its requests are counted through.
	OutboundConfig = struct {
		AllowedHosts []string
		CapHosts     []string // the tenant's; nil: no cap
		MaxRequests  int
		Timeout      time.Duration
		MaxBody      int64
		Slots        chan struct{} // the tenant's requests in flight
		Observe      func(tenant, host, outcome string)
	}
	// ModuleInfo is what a loaded module reports for progress and metrics.
	ModuleInfo = struct {
		Size        int
		Cached      bool
		CompileTime time.Duration
		// Deadline is how its guests are stopped at their deadline.
		Deadline string
		Code     int64 // bytes of machine code; 0: unknown
		Released bool  // its code is not in memory: its programs run snapshots
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
		IsRuby() bool
		Bind(c RunConfig) (Program, error)
		Close(ctx context.Context) error
	}
	// Scripts are the built-on-demand scripts of one route.
	Scripts = interface {
		Acquire(ctx context.Context, path string) (host.Runner, func(), error)
		Build(ctx context.Context, path string) error
		Close()
	}
)

// Loader loads modules and scripts for router with an engine and a
// builder; it implements router.Loader.
type Loader struct {
	Engine  *wasi.Engine
	Builder *toolchain.Builder // nil: only .wasm and .wat
}

// Load builds (for a source) and compiles the module at path.
func (l *Loader) Load(ctx context.Context, path string) (Module, error) {
	m, err := l.Engine.Load(ctx, path, l.Builder)
	if err != nil {
		return nil, err
	}
	return module{m}, nil
}

// SourceKind is the kind of source at path (by its extension, or a
// folder's files), or "" when wasigate neither runs nor builds it.
func (l *Loader) SourceKind(path string) string { return string(toolchain.KindOf(path)) }

// Scripts returns the scripts of one route, built when first run and
// again when they change (wasi.Scripts).
func (l *Loader) Scripts(c RunConfig, name func(path string) string, built func(path string, cached bool, d time.Duration, snapshot string)) Scripts {
	// Router has checked the allowed_hosts entries at startup; should one
	// still fail here, the route's scripts reach nothing.
	cfg, _ := config(c)
	var told func(string, bool, time.Duration, wasi.SnapshotInfo)
	if built != nil {
		told = func(p string, cached bool, d time.Duration, s wasi.SnapshotInfo) {
			built(p, cached, d, snapshotSummary(s))
		}
	}
	b := l.Builder
	if b != nil {
		// The route's tenant builds in its own slots.
		b = b.WithSlots(c.BuildSlots)
	}
	return scripts{s: l.Engine.NewScripts(b, cfg, name, told), observe: c.Outbound.Observe}
}

func config(c RunConfig) (wasi.Config, error) {
	vols := make([]wasi.Volume, len(c.Volumes))
	for i, v := range c.Volumes {
		vols[i] = wasi.Volume(v)
	}
	o := c.Outbound
	out, err := wasi.NewOutbound(wasi.OutboundPolicy{AllowedHosts: o.AllowedHosts, CapHosts: o.CapHosts,
		MaxRequests: o.MaxRequests, Timeout: o.Timeout, MaxBody: o.MaxBody, Slots: o.Slots})
	return wasi.Config{Entrypoint: c.Entrypoint, Volumes: vols, MemoryLimit: c.MemoryLimit, MaxOpenFiles: c.MaxOpenFiles, Scratch: c.Scratch, Outbound: out, NoSnapshot: c.NoSnapshot, Preload: c.Preload, InitArgs: c.InitArgs, InitEnv: c.InitEnv, ScratchSize: c.ScratchSize, Reuse: c.Reuse, ReuseMax: c.ReuseMax, App: c.App,
		Learn: c.Learn, LearnRoots: c.LearnRoots, Learned: learned(c.Learned)}, err
}

// learned passes a retake's event on through the seam's plain types.
func learned(f func(added, dropped []string, total int, image uint64, init time.Duration, err error)) func(wasi.LearnEvent) {
	if f == nil {
		return nil
	}
	return func(ev wasi.LearnEvent) { f(ev.Added, ev.Dropped, ev.Total, ev.Image, ev.InitTime, ev.Err) }
}

type module struct{ m *wasi.Module }

// Snapshot says whether the program's instances start from a snapshot of
// its init, for the startup log and `wasigate check` (issue 12); router
// asks for it with a type assertion, outside the seam's Program.
func (p program) Snapshot() string { return snapshotSummary(p.p.Snapshot()) }

// InitError is the failure of an interpreter's init (its preloads) when
// the snapshot ran it, nil otherwise; router asks for it like Snapshot.
func (p program) InitError() error { return p.p.Snapshot().InitErr }

// Close releases an application's own snapshot (wasi.Config.App); router
// asks for it with a type assertion, like Snapshot.
func (p program) Close(ctx context.Context) error { return p.p.Close(ctx) }

func snapshotSummary(s wasi.SnapshotInfo) string {
	switch {
	case s.On:
		how := "mapped copy-on-write"
		if !s.Mapped {
			how = "copied per instance"
		}
		from := fmt.Sprintf("init %s", s.InitTime.Round(time.Microsecond))
		if s.Cached {
			from = "loaded from the cache"
		}
		code := ""
		if s.Code > 0 {
			code = fmt.Sprintf(", %.1f MiB machine code", float64(s.Code)/(1<<20))
		}
		return fmt.Sprintf("snapshot: %d KiB image %s%s, %s", s.Image>>10, how, code, from)
	case s.Reason != "":
		return s.Reason
	}
	return ""
}

func (m module) Info() ModuleInfo {
	return ModuleInfo{Size: m.m.Size, Cached: m.m.Cached, CompileTime: m.m.CompileTime, Deadline: m.m.Deadline,
		Code: m.m.CodeSize(), Released: !m.m.Loaded()}
}
func (m module) HasExport(name string) bool      { return m.m.HasExport(name) }
func (m module) IsRuby() bool                    { return m.m.IsRuby() }
func (m module) Close(ctx context.Context) error { return m.m.Close(ctx) }

func (m module) Bind(c RunConfig) (Program, error) {
	cfg, err := config(c)
	if err != nil {
		return nil, err
	}
	p, err := m.m.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return program{p: p, observe: c.Outbound.Observe}, nil
}

type scripts struct {
	s       *wasi.Scripts
	observe func(tenant, host, outcome string)
}

func (s scripts) Acquire(ctx context.Context, path string) (host.Runner, func(), error) {
	p, release, err := s.s.Acquire(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	return host.RunnerFunc(func(ctx context.Context, inv *host.Invocation) error {
		defer release()
		return program{p: p, observe: s.observe}.Run(ctx, inv)
	}), release, nil
}

func (s scripts) Build(ctx context.Context, path string) error { return s.s.Build(ctx, path) }
func (s scripts) Close()                                       { s.s.Close() }
