package cgi

import (
	"context"
	"time"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// Loader loads modules and scripts for router with an engine and a
// builder; it implements router.Loader.
type Loader struct {
	Engine  *wasi.Engine
	Builder *toolchain.Builder // nil: only .wasm and .wat
}

// Load builds (for a source) and compiles the module at path.
func (l *Loader) Load(ctx context.Context, path string) (seam.Module, error) {
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
func (l *Loader) Scripts(c seam.RunConfig, name func(path string) string, built func(path string, cached bool, d time.Duration, snapshot seam.Snapshot)) seam.Scripts {
	b := l.Builder
	if b != nil {
		// The route's tenant builds in its own slots.
		b = b.WithSlots(c.BuildSlots)
	}
	return scripts{s: l.Engine.NewScripts(b, c, name, built), observe: c.Outbound.Observe}
}

type module struct{ m *wasi.Module }

func (m module) Info() seam.ModuleInfo {
	return seam.ModuleInfo{Size: m.m.Size, Cached: m.m.Cached, CompileTime: m.m.CompileTime, Deadline: m.m.Deadline,
		Code: m.m.CodeSize(), Released: !m.m.Loaded()}
}
func (m module) HasExport(name string) bool      { return m.m.HasExport(name) }
func (m module) Kind() seam.Kind                 { return m.m.Kind() }
func (m module) Close(ctx context.Context) error { return m.m.Close(ctx) }

func (m module) Bind(c seam.RunConfig) (seam.Program, error) {
	p, err := m.m.Prepare(c)
	if err != nil {
		return nil, err
	}
	return program{p: p, observe: c.Outbound.Observe}, nil
}

type scripts struct {
	s       *wasi.Scripts
	observe func(tenant, host, outcome string)
}

func (s scripts) Acquire(ctx context.Context, path string) (seam.Runner, func(), error) {
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
