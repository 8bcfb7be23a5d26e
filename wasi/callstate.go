package wasi

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// What of WASI belongs to a call and not to an instance, so that a reused
// instance (reuse.go) gives each request its own. wazero's
// wasi_snapshot_preview1 reads arguments, standard streams and preopens
// from the instance's sys.Context, fixed by the ModuleConfig when the
// instance is made (internal/sys/sys.go, NewContext; args_get in
// imports/wasi_snapshot_preview1/args.go reads mod.(*wasm.ModuleInstance).Sys),
// and nothing in its API swaps them afterwards. So:
//
//   - args_get and args_sizes_get are wasigate's, reading the call's
//     arguments from the context, as environ_get does (environ.go);
//   - the standard streams are switchStreams given to the instance once,
//     pointed at a request's streams for its run and detached after;
//   - fd_close, fd_renumber, fd_fdstat_set_flags and fd_fdstat_set_rights
//     on a standard stream or a preopen, which change the descriptor table
//     wazero keeps for the instance, and fd_readdir on one (wazero caches
//     the listing on the descriptor), mark the call tainted: its instance
//     is not reused;
//   - proc_exit(0) ends the call without closing the instance (wazero's
//     closes it); any other code goes to wazero's.

// callState is what a call's WASI functions read and record.
type callState struct {
	args []string
	size uint32 // bytes of all arguments with their NULs
	// reserved: descriptors below it are the standard streams and the
	// preopens, which a reused instance must keep as they were.
	reserved uint32
	// preopens are the guest paths of the preopened folders, from
	// descriptor 3 (guestfs.Preopens), for the path functions (dotdot.go).
	preopens []string
	// keep: the instance may be reused, so proc_exit(0) must not close it.
	keep bool

	mu      sync.Mutex
	tainted string // why the instance must not be reused; "" if nothing
}

type callStateKey struct{}

func newCallState(args []string) *callState {
	s := &callState{}
	s.init(args)
	return s
}

func (s *callState) init(args []string) {
	s.args, s.reserved = args, 3
	for _, a := range args {
		s.size += uint32(len(a)) + 1
	}
}

// callValues is a call's environment and call state, and the context
// that carries both: one allocation and one context a request, where
// each in its own context.WithValue took four.
type callValues struct {
	context.Context
	env environ
	st  callState
}

// withCall returns a context carrying the call's environment vars
// (callEnviron) and a fresh call state for args (callStateOf), and that
// state.
func withCall(ctx context.Context, vars, args []string) (context.Context, *callState, error) {
	c := &callValues{Context: ctx}
	if err := c.env.set(vars); err != nil {
		return nil, nil, err
	}
	c.st.init(args)
	return c, &c.st, nil
}

// Value implements context.Context.
func (c *callValues) Value(key any) any {
	switch key.(type) {
	case environKey:
		return &c.env
	case callStateKey:
		return &c.st
	}
	return c.Context.Value(key)
}

func withCallState(ctx context.Context, s *callState) context.Context {
	return context.WithValue(ctx, callStateKey{}, s)
}

func callStateOf(ctx context.Context) *callState {
	s, _ := ctx.Value(callStateKey{}).(*callState)
	return s
}

func (s *callState) taint(why string) {
	s.mu.Lock()
	if s.tainted == "" {
		s.tainted = why
	}
	s.mu.Unlock()
}

func (s *callState) taintReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tainted
}

// exportCallState adds wasigate's args_*, proc_exit and the descriptor
// guards to the WASI host module builder b, which already holds wazero's
// functions: those are compiled once to be wrapped.
func exportCallState(ctx context.Context, rt wazero.Runtime, b wazero.HostModuleBuilder) error {
	cm, err := b.Compile(ctx)
	if err != nil {
		return err
	}
	defer cm.Close(ctx)
	fns := cm.ExportedFunctions()
	inner := func(name string) (api.GoModuleFunction, error) {
		fn, ok := fns[name].GoFunction().(api.GoModuleFunction)
		if !ok {
			return nil, fmt.Errorf("wazero's %s is not a Go module function", name)
		}
		return fn, nil
	}
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(argsSizesGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("result.argc", "result.argv_len").
		Export("args_sizes_get")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(argsGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("argv", "argv_buf").
		Export("args_get")

	exit, err := inner("proc_exit")
	if err != nil {
		return err
	}
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			if s := callStateOf(ctx); s != nil && s.keep && uint32(stack[0]) == 0 {
				panic(sys.NewExitError(0))
			}
			exit.Call(ctx, mod, stack)
		}), []api.ValueType{i32}, nil).
		WithParameterNames("rval").
		Export("proc_exit")

	// The guarded functions, with their parameters; the descriptor is the
	// first parameter (fd_renumber's second is guarded too). fd_readdir
	// because wazero caches a listing on the descriptor, which a later
	// call with a nonzero cookie reads back without looking at the folder:
	// the scratch folder's names of an earlier request.
	i64 := api.ValueTypeI64
	guards := []struct {
		name   string
		params []api.ValueType
	}{
		{"fd_close", []api.ValueType{i32}},
		{"fd_renumber", []api.ValueType{i32, i32}},
		{"fd_fdstat_set_flags", []api.ValueType{i32, i32}},
		{"fd_fdstat_set_rights", []api.ValueType{i32, i64, i64}},
		{"fd_readdir", []api.ValueType{i32, i32, i32, i64, i32}},
	}
	for _, g := range guards {
		fn, err := inner(g.name)
		if err != nil {
			return err
		}
		name, params := g.name, g.params
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				if s := callStateOf(ctx); s != nil {
					fd := uint32(stack[0])
					if fd < s.reserved || (name == "fd_renumber" && uint32(stack[1]) < s.reserved) {
						s.taint(name + " of a standard stream or a preopen")
					}
				}
				fn.Call(ctx, mod, stack)
			}), params, []api.ValueType{i32}).
			Export(name)
	}
	return exportPathFuncs(b, fns, inner)
}

func callArgs(ctx context.Context) *callState {
	if s := callStateOf(ctx); s != nil {
		return s
	}
	return &callState{}
}

func argsSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	s := callArgs(ctx)
	mem := mod.Memory()
	if !mem.WriteUint32Le(uint32(stack[0]), uint32(len(s.args))) ||
		!mem.WriteUint32Le(uint32(stack[1]), s.size) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

// argsGet writes the arguments as environGet writes the environment.
func argsGet(ctx context.Context, mod api.Module, stack []uint64) {
	s := callArgs(ctx)
	mem := mod.Memory()
	ptrs, buf := uint32(stack[0]), uint32(stack[1])
	if _, ok := mem.Read(ptrs, 4*uint32(len(s.args))); !ok {
		stack[0] = errnoFault
		return
	}
	out, ok := mem.Read(buf, s.size)
	if !ok {
		stack[0] = errnoFault
		return
	}
	at := uint32(0)
	for i, a := range s.args {
		mem.WriteUint32Le(ptrs+4*uint32(i), buf+at)
		at += uint32(copy(out[at:], a))
		out[at] = 0
		at++
	}
	stack[0] = errnoSuccess
}

// switchStreams are an instance's standard streams, pointed at one call's
// for its run. Detached, stdin reads EOF and the outputs discard. A write
// error (the host's output cap, a client gone) is remembered: the guest
// saw EIO and may have ended well anyway, but its request did not.
type switchStreams struct {
	mu          sync.Mutex
	in          io.Reader
	out, errOut io.Writer
	failed      bool
}

func (s *switchStreams) set(in io.Reader, out, errOut io.Writer) {
	s.mu.Lock()
	s.in, s.out, s.errOut, s.failed = in, out, errOut, false
	s.mu.Unlock()
}

func (s *switchStreams) writeFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

type switchIn struct{ s *switchStreams }

func (r switchIn) Read(p []byte) (int, error) {
	r.s.mu.Lock()
	in := r.s.in
	r.s.mu.Unlock()
	if in == nil {
		return 0, io.EOF
	}
	return in.Read(p)
}

type switchOut struct {
	s   *switchStreams
	err bool // stderr
}

func (w switchOut) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	out := w.s.out
	if w.err {
		out = w.s.errOut
	}
	w.s.mu.Unlock()
	if out == nil {
		return len(p), nil
	}
	n, err := out.Write(p)
	if err != nil {
		w.s.mu.Lock()
		w.s.failed = true
		w.s.mu.Unlock()
	}
	return n, err
}

// sleepCtx is the context a reused instance's nanosleep wakes up on: the
// current call's (ModuleConfig.WithNanosleep is fixed per instance).
type sleepCtx struct {
	mu  sync.Mutex
	ctx context.Context
}

func (s *sleepCtx) set(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
}

func (s *sleepCtx) get() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return context.Background()
	}
	return s.ctx
}
