package wasi

// A call of a program: one fresh instance (or a reused one, reuse.go) from
// start to close, and how its ending becomes Run's error.

import (
	"context"
	"errors"
	"fmt"
	"github.com/wasigate/wasigate/host/seam"
	"os"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/outbound"
	"github.com/wasigate/wasigate/wasi/internal/rewrite"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// Call is one run of a program: the host's invocation (seam.Invocation).
// Run sets its Instantiate to the time spent creating the instance,
// before the entrypoint ran.
type Call = seam.Invocation

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
	if p.fresh != nil {
		return p.fresh.run(ctx, p, c) // snapage.go
	}
	return p.run(ctx, c)
}

// run is Run in the program's current snapshot.
func (p *Program) run(ctx context.Context, c *Call) error {
	ctx, st, err := withCall(ctx, c.Env, c.Args)
	if err != nil {
		return fmt.Errorf("guest not started: %w", err)
	}
	if p.outbound {
		var finish func()
		pol := p.policy
		if pol == nil {
			pol = denyAll
		}
		ctx, finish = outbound.With(ctx, pol)
		defer finish() // after the instance is closed: deferred first
	}
	if p.warm != nil && !p.warm.off.Load() {
		if err := p.runWarm(ctx, c, st); err != errWarmOff {
			return err
		}
	}
	st.preopens = guestfs.Preopens(p.mounts)
	if p.scratch != "" {
		st.preopens = guestfs.Preopens(append(p.mounts[:len(p.mounts):len(p.mounts)], guestfs.Mount{Guest: p.scratch}))
	}
	st.reserved = 3 + uint32(len(st.preopens)) // the empty root too
	cfg := p.config(ctx, c)
	var scratch *guestfs.Mount
	if p.scratch != "" {
		// Created and removed here, so that nothing one request writes
		// there is seen by the next; it counts against max_open_files
		// like the volumes.
		dir, err := os.MkdirTemp("", "wasigate-scratch-")
		if err != nil {
			return fmt.Errorf("scratch: %w", err)
		}
		defer os.RemoveAll(dir)
		m, closeScratch, err := guestfs.OpenScratch(dir, p.scratch, p.scratchSize)
		if err != nil {
			return fmt.Errorf("guest not started: scratch: %w", err)
		}
		defer closeScratch()
		fsc, err := guestfs.Config(append(p.mounts[:len(p.mounts):len(p.mounts)], m), p.files)
		if err != nil {
			return fmt.Errorf("guest not started: scratch: %w", err)
		}
		cfg, scratch = cfg.WithFSConfig(fsc), &m
	}
	if p.locks {
		// Released after the instance is closed (deferred before it),
		// whether it returned, trapped or was stopped: a guest killed at
		// its deadline inside a transaction leaves no lock behind.
		var release func()
		ctx, release = p.withLocks(ctx, scratch)
		defer release()
	}
	var mem *snap.Call
	if p.pool != nil {
		mem = snap.NewCall(p.pool)
		ctx = experimental.WithMemoryAllocator(ctx, mem)
		// Belt and braces: whatever wazero did, the pooled memory is not
		// kept once Run returns (see release).
		defer mem.Release()
	}

	start := time.Now()
	mod, err := p.module.rt.InstantiateModule(ctx, p.compiledModule(), cfg)
	c.Instantiate = time.Since(start)
	if err != nil {
		return p.result(ctx, err)
	}
	defer closeInstance(ctx, mod)
	if err := p.begin(mod); err != nil {
		return err
	}
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
			return p.runRuby(guestABI{ctx: ctx, mod: mod}, c.Args)
		}
		return call(ctx, mod, p.entry)
	}))
	if guestEnded != nil {
		guestEnded()
	}
	// Read before the deferred Close hands the memory back to the pool.
	if err != nil && ctx.Err() == nil && mem != nil && mem.Refused() {
		err = &MemoryError{Limit: p.pool.Limit(), Err: err}
	}
	return err
}

// guestEnded, when not nil, is called as soon as a guest's code has
// returned, before its instance is closed: BenchmarkTripGap measures the
// time from the deadline to the trap without the instance's teardown.
var guestEnded func()

// closeInstance closes an instance and releases its memory and files on
// every ending
// (cmd/wasigate/DECISIONS.md#every-ending-releases-memory-and-files).
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
		fsc, _ := guestfs.Config(p.mounts, p.files) // checked by Prepare
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
	// the caller's reader, which must return when ctx ends
	// (cmd/wasigate/DECISIONS.md#time-blocked-on-the-client-counts).
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
	if err == nil || exitedZero(err) {
		if ctx.Err() != nil {
			// The run was stopped, and the guest ended well only because
			// the stop unblocked it (a read that the host ended gave it
			// EOF) before its next deadline check: still a stopped run,
			// as it would have been under wazero's own check.
			return fmt.Errorf("guest stopped: %w", context.Cause(ctx))
		}
		return nil
	}
	// Declared here, not above: errors.As moves it to the heap, which a
	// run that returned pays for nothing.
	var exit *sys.ExitError
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

// exitedZero reports whether err is a proc_exit(0). A function of its own
// so that a nil error does not pay for the heap copy errors.As makes of
// its target.
func exitedZero(err error) bool {
	var exit *sys.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 0
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
