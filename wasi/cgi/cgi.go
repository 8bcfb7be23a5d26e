package cgi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// Runner returns p as the host's Runner.
func Runner(p *wasi.Program) host.Runner { return program{p: p} }

// program adapts a wasi.Program to host.Runner and seam.Program: a
// host.Invocation is a wasi.Call (both are seam.Invocation), so the
// Instantiate time the program sets lands in the invocation.
type program struct {
	p       *wasi.Program
	observe func(tenant, host, outcome string) // outbound metrics; may be nil
}

func (r program) Run(ctx context.Context, inv *host.Invocation) error {
	if r.p.UsesOutbound() {
		ctx = withObserver(ctx, r.observe) // outbound.go
	}
	return r.p.Run(ctx, inv)
}

// Entrypoint is the function the program calls.
func (r program) Entrypoint() string { return r.p.Entrypoint() }

// Snapshot says whether the program's instances start from a snapshot of
// its init, or why not.
func (r program) Snapshot() seam.Snapshot { return r.p.Snapshot() }

// Close releases an application's own snapshot (seam.RunConfig.App).
func (r program) Close(ctx context.Context) error { return r.p.Close(ctx) }

// Refresh takes the interpreter's snapshot again after an edit of a file
// its init read (seam.RunConfig.WatchInit).
func (r program) Refresh(ctx context.Context) error { return r.p.Refresh(ctx) }

var (
	_ seam.Program   = program{}
	_ seam.Refresher = program{}
)

// Options configure Handler: the CGI settings of the handler and the
// sandbox of its guest. The zero value serves the module's _start with
// the host's and the engine's default limits.
type Options struct {
	// Handler holds the CGI settings (Root, Env, Timeout, MaxBody...);
	// its Runner is set by Handler.
	Handler host.Handler
	// Config is the guest's entrypoint, volumes, memory and files caps.
	Config wasi.Config
	// Builder builds a source module (.go, .c, .rs); nil accepts only
	// .wasm and .wat.
	Builder *toolchain.Builder
}

// NewHandler compiles the module at path in e and returns the CGI handler
// that runs it, one fresh instance per request.
func NewHandler(ctx context.Context, e *wasi.Engine, path string, opts Options) (*host.Handler, error) {
	mod, err := e.Load(ctx, path, opts.Builder)
	if err != nil {
		return nil, err
	}
	prog, err := mod.Prepare(opts.Config)
	if err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	h := opts.Handler
	h.Runner = Runner(prog)
	if h.Module == "" {
		h.Module = path
	}
	return &h, nil
}

// Handler is NewHandler for a program's setup, in the way of
// regexp.MustCompile: a module that does not load is a mistake of the
// program, and Handler panics naming it.
//
//	http.Handle("/app/", cgi.Handler(engine, "app.wasm", cgi.Options{}))
func Handler(e *wasi.Engine, path string, opts Options) http.Handler {
	h, err := NewHandler(context.Background(), e, path, opts)
	if err != nil {
		panic(fmt.Sprintf("wasigate/cgi: %v", err))
	}
	return h
}
