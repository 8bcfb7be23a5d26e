// Package wire builds what wasigate serves a configuration with: the wasi
// engine, the toolchain builder, and wasi/cgi's Loader for router. The
// command and the benchmark share it, so that the benchmark measures the
// server's own setup rather than a copy of it.
//
// It is the one place besides the commands that imports router and wasi
// together; nothing but cmd may import it.
package wire

import (
	"context"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
	"github.com/wasigate/wasigate/wasi/seal"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// Settings are what the engine and builder are made from.
type Settings struct {
	// CacheDir is the cache folder, already created and checked.
	CacheDir string
	// Server is the configuration's [server], defaults applied.
	Server router.Server
	// NiceAfter overrides what lower_priority gives the engine when not 0
	// (the benchmark's -nice-after).
	NiceAfter time.Duration
	Log       zerolog.Logger
}

// Parts are an engine and a builder on one cache folder.
type Parts struct {
	Engine  *wasi.Engine
	Builder *toolchain.Builder
}

// New creates the engine and the builder for s.
func New(ctx context.Context, s Settings) (*Parts, error) {
	nice := s.NiceAfter
	if nice == 0 && !s.Server.LowersPriority() {
		nice = -1 // the engine's "never"
	}
	// Every core compiles: an interpreter such as ruby.wasm (30 MB) takes
	// about half as long with two workers as with one.
	engine, err := wasi.NewEngine(ctx, wasi.Options{
		CacheDir:           s.CacheDir,
		CompilationWorkers: runtime.NumCPU(),
		Tune:               true,
		NiceAfter:          nice,
		Deadline:           s.Server.Deadline,
		// A reactor's init, run once to snapshot it
		// (cmd/wasigate/DECISIONS.md#reactors-start-from-a-snapshot-of-their-init).
		SnapshotInitTimeout: time.Duration(s.Server.SnapshotInitTimeout),
		CacheMaxAge:         time.Duration(s.Server.CacheMaxAge),
		SnapshotMaxAge:      time.Duration(s.Server.SnapshotMaxAge),
		MaxModuleSize:       int64(s.Server.MaxModuleSize),
		CacheMaxSize:        int64(s.Server.CacheMaxSize),
		ReuseIdle:           time.Duration(s.Server.ReuseIdle),
		ReuseMemory:         int64(s.Server.ReuseMemory),
		// A retake whose program has no hook of its own (router sets one
		// naming the route): still one event.
		Retaken: func(ev seam.RetakeEvent) {
			e := s.Log.Info()
			msg := "interpreter snapshot retaken"
			if ev.Err != nil {
				e, msg = s.Log.Warn().Err(ev.Err), "interpreter snapshot retake failed; the old snapshot serves on"
			}
			e.Str("module", ev.Module).Strs("reasons", ev.Reasons).AnErr("without_learned", ev.Unlearned).Strs("added", ev.Added).Strs("dropped", ev.Dropped).
				Int("learned", ev.Learned).Uint64("image", ev.Image).Dur("init", ev.Init).Msg(msg)
		},
	})
	if err != nil {
		return nil, err
	}
	key, err := seal.LoadKey(s.CacheDir)
	if err != nil {
		engine.Close(ctx)
		return nil, err
	}
	sb := toolchain.DetectSandbox()
	b := &toolchain.Builder{
		Dir:     s.CacheDir,
		Limits:  BuildLimits(s.Server),
		Sandbox: &sb,
		Trusted: s.Server.TrustedBuilds,
		Key:     key,
		// A build's output over it is refused unread and not kept.
		MaxModuleSize: int64(s.Server.MaxModuleSize),
	}
	if !sb.Available() && s.Server.TrustedBuilds {
		s.Log.Warn().Str("sandbox", sb.String()).Msg("trusted_builds: scripts are built unsandboxed, with the server's file system")
	}
	return &Parts{Engine: engine, Builder: b}, nil
}

// Loader is router's Loader over the parts.
func (p *Parts) Loader() router.Loader { return &cgi.Loader{Engine: p.Engine, Builder: p.Builder} }

// BuildLimits are the limits of script builds in srv.
func BuildLimits(srv router.Server) toolchain.Limits {
	return toolchain.Limits{Timeout: time.Duration(srv.BuildTimeout), Memory: int64(srv.BuildMemory), Concurrency: srv.BuildConcurrency}
}
