package wasi

// Taking a snapshot: the init runs once in a scratch instance, bounded by
// its own deadline, and its globals and memory are written into a module
// of their own (internal/rewrite) and an image (internal/snap).

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/rewrite"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

func (m *Module) takeSnapshot(limit uint64, in snap.Inputs) (*snapshot, error) {
	s, _, err := m.takeSnapshotDeps(limit, in)
	return s, err
}

// takeSnapshotDeps is takeSnapshot, also returning what the init read on
// its read-only volumes when it failed (snapedit.go watches those files
// for the fix).
func (m *Module) takeSnapshotDeps(limit uint64, in snap.Inputs) (*snapshot, []snap.Dep, error) {
	e := m.engine
	key := snapshotKey(m.code.hash, m.ruby() != nil, m.isDriver(), in)
	// Kept in the cache folder with what the init read (snapstore.go).
	if s := m.loadStored(key, in); s != nil {
		return s, s.deps, nil
	}
	taken := time.Now()
	in, reads, err := snap.Record(in, e.roots.Open)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoSnapshot, err)
	}
	s, err := m.takeRecorded(limit, in, reads, key, taken)
	if err != nil {
		return nil, reads.Deps(), err
	}
	s.deps = reads.Deps()
	return s, s.deps, nil
}

// takeRecorded runs the init of in, whose volumes record into reads, and
// makes its snapshot, stored under key.
func (m *Module) takeRecorded(limit uint64, in snap.Inputs, reads *snap.Reads, key string, taken time.Time) (*snapshot, error) {
	e := m.engine
	wasm, err := m.snapBytes()
	if err != nil {
		return nil, err
	}
	sm, err := rewrite.NewSnapshot(wasm)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	scratch, err := e.compileBytes(ctx, m.rt, sm.Instrument())
	if err != nil {
		return nil, fmt.Errorf("%w: compile the instrumented module: %w", ErrNoSnapshot, err)
	}
	// boundedInit closes scratch once the init has returned (snapinit.go).
	values, mem, times, err := m.boundedInit(scratch, sm.Globals(), limit, in)
	if err != nil {
		return nil, err
	}
	if m.interrupt && len(values) >= 2 {
		// The deadline checks' counter and flag are the last two globals
		// (internal/rewrite/instrument.go). The counter's value means
		// nothing to a request but differs from one init to the next (an
		// interpreter's hash seed changes how many loops it runs), which
		// would make every start's rewritten module new to the compile
		// cache: both start at 0.
		values[len(values)-2], values[len(values)-1] = 0, 0
	}
	out, err := sm.Rewrite(values, uint32(len(mem)/snap.PageSize))
	if err != nil {
		return nil, err
	}
	// Every global of the snapshot module is exported as well, so that a
	// reused instance's can be set back to the snapshot's values (reuse.go).
	if exp, err := rewrite.NewSnapshot(out); err == nil {
		out = exp.Instrument()
	}
	img, err := snap.NewImage(mem)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSnapshot, err)
	}
	s, codeHash, funcs, err := e.compileSnapshot(ctx, m.rt, out)
	if err != nil {
		img.Close()
		return nil, fmt.Errorf("%w: compile the snapshot: %w", ErrNoSnapshot, err)
	}
	m.storeSnapshot(key, out, mem, reads, taken)
	e.holdFor(m, e.markerPath(codeHash)) // what is compiled, when it is the shared module
	s.image, s.taken = img, taken
	s.info = seam.Snapshot{On: true, InitTime: times.init, WarmupTime: times.warmup, Image: img.Size(), Mapped: !img.Copied(),
		Code: e.codeSize(codeHash, funcs), SharedCode: s.shared != nil}
	return s, nil
}

// runInit instantiates the scratch module, runs _initialize and returns
// the values of its globals and a copy of its memory. The deadline checks
// stop it at timeout; boundedInit bounds it whatever it does.
func (m *Module) runInit(scratch wazero.CompiledModule, globals int, limit uint64, in snap.Inputs, timeout time.Duration) (values []uint64, mem []byte, took initTimes, err error) {
	e := m.engine
	ctx, cancel := context.WithTimeout(e.bg.ctx, timeout) // Close stops it too
	defer cancel()
	defer func() {
		// Stopped at its deadline, however the guest ended: the reason
		// names the key, not the trap.
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w: the init ran past snapshot_init_timeout (%s) and was stopped; make it return sooner, or raise [server] snapshot_init_timeout", ErrNoSnapshot, timeout)
		}
	}()
	env, err := newEnviron(in.Env)
	if err != nil {
		return nil, nil, initTimes{}, fmt.Errorf("%w: init environment: %w", ErrNoSnapshot, err)
	}
	ctx = context.WithValue(ctx, environKey{}, env)
	ctx = withCallState(ctx, newCallState(in.Args))
	ctx = withInitLearn(ctx, in)
	cm := snap.NewCall(e.pools.Get(limit))
	ctx = experimental.WithMemoryAllocator(ctx, cm)
	defer cm.Release()
	stderr := snap.NewTail(tailMax)
	if in.App {
		stderr = snap.NewTail(appTailMax)
	}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader).WithStderr(stderr).
		WithArgs(in.Args...).WithStdin(strings.NewReader(""))
	files := guestfs.NewCount(0)
	if len(in.Dirs) > 0 {
		fsc, done, err := snap.InitFS(in.Dirs, files)
		if err != nil {
			return nil, nil, initTimes{}, fmt.Errorf("%w: %w", ErrNoSnapshot, err)
		}
		defer done()
		cfg = cfg.WithFSConfig(fsc)
	}

	start := time.Now()
	// A memory that cannot be given its minimum makes wazero panic; the
	// scratch module's is the program's, which Prepare checked, but a
	// snapshot must never take the process down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: instantiate: %v", ErrNoSnapshot, r)
		}
	}()
	mod, err := m.rt.InstantiateModule(ctx, scratch, cfg)
	if err != nil {
		return nil, nil, initTimes{}, fmt.Errorf("%w: instantiate: %w", ErrNoSnapshot, err)
	}
	defer closeInstance(ctx, mod)
	// An instrumented module stops at the timeout (deadline.go).
	defer m.arm(ctx, mod)()
	// Any ending but a return refuses the snapshot, proc_exit(0) too: the
	// instance is closed and its state is not what a request would see.
	if err := m.callStart(ctx, mod); err != nil {
		return nil, nil, initTimes{}, fmt.Errorf("%w: start function failed: %w%s", ErrNoSnapshot, err, stderr.Suffix())
	}
	if err := call(ctx, mod, "_initialize"); err != nil {
		return nil, nil, initTimes{}, fmt.Errorf("%w: _initialize failed: %w%s", ErrNoSnapshot, err, stderr.Suffix())
	}
	if m.ruby() != nil {
		if err := m.rubyInit(ctx, mod, in.Preload); err != nil {
			return nil, nil, initTimes{}, fmt.Errorf("%w: %w: %w%s", ErrNoSnapshot, ErrInitFailed, err, stderr.Suffix())
		}
		m.rubyLearnedInit(ctx, mod, in) // learnreport.go
		if err := m.rubyReserve(ctx, mod, limit); err != nil {
			return nil, nil, initTimes{}, fmt.Errorf("%w: %w: %w%s", ErrNoSnapshot, ErrInitFailed, err, stderr.Suffix())
		}
	} else if m.isDriver() {
		if err := runDriverInit(ctx, mod); err != nil {
			return nil, nil, initTimes{}, fmt.Errorf("%w: %w: %w%s", ErrNoSnapshot, ErrInitFailed, err, stderr.Suffix())
		}
	}
	took = initTimes{init: time.Since(start)}
	if w := stderr.Warmup; !w.IsZero() {
		took = initTimes{init: w.Sub(start), warmup: time.Since(w)}
	}
	// A file the init left open would be a descriptor number in the
	// image with nothing behind it, or another file, in a request.
	if n := files.GuestOpen(); n > 0 {
		return nil, nil, initTimes{}, fmt.Errorf("%w: the init left %d file(s) open", ErrNoSnapshot, n)
	}
	// Ruby reads it in ruby-init and a driver gets its configured one;
	// each request's prelude or wasigate_run replaces it (rubysnap.go,
	// driver.go).
	if env.read && m.ruby() == nil && !m.isDriver() {
		// wasi-libc reads it eagerly in a constructor when the program
		// uses `environ`; every request would see the empty one.
		return nil, nil, initTimes{}, fmt.Errorf("%w: _initialize read the environment, which would be frozen (empty) into every request", ErrNoSnapshot)
	}
	values = make([]uint64, globals)
	for i := range values {
		g := mod.ExportedGlobal(rewrite.GlobalPrefix + strconv.Itoa(i))
		if g == nil {
			return nil, nil, initTimes{}, fmt.Errorf("%w: global %d not exported", ErrNoSnapshot, i)
		}
		values[i] = g.Get()
	}
	memory := mod.Memory()
	if memory == nil {
		return nil, nil, initTimes{}, fmt.Errorf("%w: no memory", ErrNoSnapshot)
	}
	view, _ := memory.Read(0, memory.Size())
	return values, bytes.Clone(view), took, nil
}

// initTimes is how long an init ran: an application's warm-up requests
// apart from the rest (the interpreter's start, its preloads, the import).
type initTimes struct{ init, warmup time.Duration }

// compileBytes compiles a module the engine made (not one a user gave),
// signing what it adds to the file cache like Compile does.
func (e *Engine) compileBytes(ctx context.Context, rt wazero.Runtime, wasm []byte) (wazero.CompiledModule, error) {
	if e.sealed != nil {
		sum := sha256.Sum256(wasm)
		hash := hex.EncodeToString(sum[:])
		before, _ := e.sealed.before(hash)
		defer e.sealed.after(hash, before)
	}
	if e.workers > 0 {
		ctx = experimental.WithCompilationWorkers(ctx, e.workers)
	}
	return compileModule(ctx, rt, wasm)
}

// tailMax is what a refused snapshot's reason quotes of the init's
// stderr; appTailMax, an application's, whose traceback is the operator's
// only clue to a failed load.
const (
	tailMax    = 512
	appTailMax = 8 << 10
)
