package wasi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasigate/wasigate/host/seam"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// Instance reuse: an instance whose request ended cleanly is put back to
// its starting state (the snapshot, or the state right after
// instantiation) and kept for the next request of the same program,
// instead of being closed and made anew. What wazero spends making an
// instance (a function instance per table element, the copy-on-write
// mapping and its page faults) is then spent once per instance, not per
// request.
//
// Kept only after a clean ending: the entrypoint returned or called
// proc_exit(0), the run was not stopped, no write to an output failed, the
// guest closed every file it opened and changed no standard stream or
// preopen (callstate.go), and the reset below succeeded. Anything else
// closes the instance. The reset:
//
//   - memory: the same size as at the start, else thrown away; its pages
//     compared with the starting image and the differing ones copied back
//     (reset.go);
//   - globals: the exported mutable ones set back (a snapshot module
//     exports all of them), then all compared with their starting values;
//   - tables and segments: a module whose code can change them is never
//     reused (rewrite.ReuseBlocker);
//   - the scratch folder: emptied, its mode set back, a new quota;
//   - arguments, environment, streams, locks, outbound state, sleep's
//     context: the call's own (callstate.go, environ.go).

// reuseLimits are the engine's bounds on idle instances.
type reuseLimits struct {
	// idle: how long an instance waits idle before it is closed.
	idle time.Duration
	// memory: the bytes of memory idle instances hold as their own,
	// engine-wide (the anonymous pages of a mapped snapshot, the whole
	// memory otherwise); an instance beyond it is closed, not kept.
	memory int64
}

func newReuseLimits(o Options) reuseLimits {
	return reuseLimits{idle: cmp.Or(o.ReuseIdle, seam.DefaultReuseIdle), memory: cmp.Or(o.ReuseMemory, seam.DefaultReuseMemory)}
}

// ReuseLimits returns how long an idle instance is kept and the bytes all
// idle instances may hold together, the defaults applied.
func (e *Engine) ReuseLimits() (idle time.Duration, memory int64) {
	return e.reuse.idle, e.reuse.memory
}

// reuseForTests turns reuse on for every program, so that the package's
// tests run both ways (WASIGATE_TEST_REUSE=on, reuse_matrix_test.go).
var reuseForTests bool

// warmSet is the pools of a module's programs, closed with it.
type warmSet struct {
	mu    sync.Mutex
	pools []*warmPool
}

func (s *warmSet) add(p *warmPool) {
	s.mu.Lock()
	s.pools = append(s.pools, p)
	s.mu.Unlock()
}

// warmPool is one program's idle instances, the most recently used last.
type warmPool struct {
	prog    *Program
	max     int
	idleFor time.Duration

	// off: an instance could not be made resettable (errReuseStart),
	// which depends on the module alone: later calls run fresh
	// instances, as without reuse; offWhy says why.
	off    atomic.Bool
	offWhy atomic.Pointer[string]

	mu     sync.Mutex
	idle   []*warmInstance
	closed bool
	timer  *time.Timer

	// image: the memory right after instantiation, for a program without
	// a snapshot, taken from its first instance.
	imageMu sync.Mutex
	image   []byte
}

// warmInstance is an instance with what its reset needs.
type warmInstance struct {
	mod      api.Module
	mem      *snap.Call
	files    *guestfs.Count
	streams  *switchStreams
	sleep    *sleepCtx
	scratch  *guestfs.Scratch // nil without Config.Scratch
	globals  *globalReset
	memory   *memoryReset // nil without a memory
	size     uint32       // memory bytes at the start
	reserved uint32       // standard streams and preopens
	preopens []string     // the preopens' guest paths (guestfs.Preopens)
	idle     time.Time
	owned    int64 // counted in the idle budget while idle
	parked   bool  // idle: not counted in Engine.MemoryInUse

	fns  map[string]api.Function // the exports it ran (warmcall.go)
	flag *interruptFlag          // its deadline flag, looked up once (deadline.go)
}

// setupReuse gives p a pool when c asks for reuse and nothing in the
// module forbids it, and records why not otherwise.
func (p *Program) setupReuse(c Config) {
	switch {
	case !c.Reuse && !reuseForTests:
		p.reuseReason = "turned off"
		return
	case p.module.reuseBlock != nil:
		p.reuseReason = p.module.reuseBlock.Error()
		return
	case p.ruby != nil && p.snap == nil:
		// ruby-init grows the memory past its size at instantiation,
		// and a reset cannot shrink it: no instance would be kept.
		p.reuseReason = "a Ruby instance without a snapshot grows its memory in ruby-init, which a reset cannot undo; turn the snapshot on"
		return
	}
	max := c.ReuseMax
	if max <= 0 {
		max = 64
	}
	p.warm = &warmPool{prog: p, max: max, idleFor: p.module.engine.reuse.idle}
	p.module.warm.add(p.warm)
}

// Reuse reports whether finished instances of the program are reset and
// reused, and why not when not.
func (p *Program) Reuse() (bool, string) {
	if p.warm != nil && p.warm.off.Load() {
		return false, *p.warm.offWhy.Load()
	}
	return p.warm != nil, p.reuseReason
}

// errReuseStart is a new instance that cannot be reset.
var errReuseStart = errors.New("instance cannot be reused")

// errWarmOff: runWarm ran nothing, because the program's instances cannot
// be reset; the call runs as without reuse.
var errWarmOff = errors.New("reuse turned off")

// newInstance makes an instance for reuse. Its context must outlive the
// request: only the memory allocator is taken from it.
func (w *warmPool) newInstance(ctx context.Context) (*warmInstance, error) {
	p := w.prog
	inst := &warmInstance{streams: &switchStreams{}, sleep: &sleepCtx{}, files: guestfs.NewCount(p.files)}
	ctx = context.WithoutCancel(ctx)
	inst.mem = snap.NewCall(p.pool)
	ctx = experimental.WithMemoryAllocator(ctx, inst.mem)
	mounts := p.mounts
	if p.scratch != "" {
		s, err := guestfs.NewScratch(p.scratch, p.scratchSize)
		if err != nil {
			return nil, fmt.Errorf("scratch: %w", err)
		}
		inst.scratch = s
		mounts = append(mounts[:len(mounts):len(mounts)], s.Mount)
	}
	// Every preopen is reserved, the empty root too: a request that
	// closed it would leave the next one without "/".
	inst.preopens = guestfs.Preopens(mounts)
	inst.reserved = 3 + uint32(len(inst.preopens))
	cfg := p.cfg.
		WithStdin(switchIn{inst.streams}).
		WithStdout(switchOut{s: inst.streams}).
		WithStderr(switchOut{s: inst.streams, err: true}).
		WithNanosleep(nanosleep(inst.sleep.get))
	if len(mounts) > 0 {
		fsc, err := guestfs.ConfigCount(mounts, inst.files)
		if err != nil {
			inst.scratch.Remove()
			return nil, err
		}
		cfg = cfg.WithFSConfig(fsc)
	}
	mod, err := p.module.rt.InstantiateModule(ctx, p.compiledModule(), cfg)
	if err != nil {
		inst.mem.Release()
		inst.scratch.Remove()
		return nil, err
	}
	inst.mod = mod
	if err := p.begin(mod); err != nil {
		inst.close()
		return nil, err
	}
	if err := w.prepareReset(inst); err != nil {
		inst.close()
		return nil, fmt.Errorf("%w: %w", errReuseStart, err)
	}
	return inst, nil
}

// get takes the most recently used idle instance; nil when there is none.
func (w *warmPool) get() *warmInstance {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.idle)
	if n == 0 {
		return nil
	}
	inst := w.idle[n-1]
	inst.parked = false
	w.idle[n-1] = nil
	w.idle = w.idle[:n-1]
	stats := w.prog.module.engine.pools.Stats()
	stats.Idle.Add(-inst.owned)
	stats.Instances.Add(1)
	stats.Bytes.Add(int64(inst.size))
	return inst
}

// put keeps a reset instance, or closes it when the pool is full or
// closed or the idle budget is spent.
func (w *warmPool) put(inst *warmInstance) {
	stats := w.prog.module.engine.pools.Stats()
	inst.owned = int64(inst.memory.ownedBytes())
	w.mu.Lock()
	if w.closed || len(w.idle) >= w.max {
		w.mu.Unlock()
		inst.close()
		return
	}
	if stats.Idle.Add(inst.owned) > w.prog.module.engine.reuse.memory {
		stats.Idle.Add(-inst.owned)
		w.mu.Unlock()
		inst.close()
		return
	}
	inst.idle = time.Now()
	// An idle instance is not one in use (Engine.MemoryInUse); close
	// counts it back in before its memory is freed.
	stats.Instances.Add(-1)
	stats.Bytes.Add(-int64(inst.size))
	inst.parked = true
	w.idle = append(w.idle, inst)
	if w.timer == nil {
		w.timer = time.AfterFunc(w.idleFor, w.sweep)
	}
	w.mu.Unlock()
}

// sweep closes the instances idle for longer than idleFor.
func (w *warmPool) sweep() {
	cutoff := time.Now().Add(-w.idleFor)
	w.mu.Lock()
	var stale []*warmInstance
	i := 0
	for i < len(w.idle) && w.idle[i].idle.Before(cutoff) {
		stale = append(stale, w.idle[i])
		i++
	}
	w.idle = append(w.idle[:0], w.idle[i:]...)
	w.timer = nil
	if len(w.idle) > 0 && !w.closed {
		w.timer = time.AfterFunc(w.idle[0].idle.Sub(cutoff), w.sweep)
	}
	w.mu.Unlock()
	for _, inst := range stale {
		w.prog.module.engine.pools.Stats().Idle.Add(-inst.owned)
		inst.close()
	}
}

// remove forgets p, closed with its program.
func (s *warmSet) remove(p *warmPool) {
	s.mu.Lock()
	s.pools = slices.DeleteFunc(s.pools, func(q *warmPool) bool { return q == p })
	s.mu.Unlock()
}

func (s *warmSet) close(ctx context.Context) {
	s.mu.Lock()
	pools := s.pools
	s.pools = nil
	s.mu.Unlock()
	for _, p := range pools {
		p.close(ctx)
	}
}

// close closes every idle instance; later ones are closed when put.
func (w *warmPool) close(context.Context) {
	w.mu.Lock()
	w.closed = true
	idle := w.idle
	w.idle = nil
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	for _, inst := range idle {
		w.prog.module.engine.pools.Stats().Idle.Add(-inst.owned)
		inst.close()
	}
}
