package wasi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
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

// DefaultReuseIdle is how long an idle instance is kept.
const DefaultReuseIdle = 30 * time.Second

// reuseIdleBudget bounds the bytes of memory that idle instances hold as
// their own, engine-wide (the anonymous pages of a mapped snapshot, the
// whole memory otherwise); an instance beyond it is closed, not kept.
var reuseIdleBudget int64 = 512 << 20

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

func (s *warmSet) close(ctx context.Context) {
	s.mu.Lock()
	pools := s.pools
	s.pools = nil
	s.mu.Unlock()
	for _, p := range pools {
		p.close(ctx)
	}
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
	mem      *callMemory
	files    *fileCount
	streams  *switchStreams
	sleep    *sleepCtx
	scratch  *warmScratch // nil without Config.Scratch
	globals  *globalReset
	memory   *memoryReset // nil without a memory
	size     uint32       // memory bytes at the start
	reserved uint32       // standard streams and preopens
	idle     time.Time
	owned    int64 // counted in the idle budget while idle
	parked   bool  // idle: not counted in Engine.MemoryInUse

	fns map[string]api.Function // the exports it ran (warmcall.go)
}

// setupReuse gives p a pool when c asks for reuse and nothing in the
// module forbids it, and records why not otherwise.
func (p *Program) setupReuse(c Config) {
	switch {
	case !c.Reuse && !reuseForTests:
		p.reuseReason = "turned off"
		return
	case p.ruby != nil:
		p.reuseReason = "the Ruby interpreter's run is not reset"
		return
	case p.module.reuseBlock != nil:
		p.reuseReason = p.module.reuseBlock.Error()
		return
	}
	max := c.ReuseMax
	if max <= 0 {
		max = 64
	}
	p.warm = &warmPool{prog: p, max: max, idleFor: DefaultReuseIdle}
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
	inst := &warmInstance{streams: &switchStreams{}, sleep: &sleepCtx{}, files: &fileCount{max: int64(p.files)}}
	ctx = context.WithoutCancel(ctx)
	inst.mem = &callMemory{pool: p.pool}
	ctx = experimental.WithMemoryAllocator(ctx, inst.mem)
	mounts := p.mounts
	if p.scratch != "" {
		s, err := newWarmScratch(p.scratch, p.scratchSize)
		if err != nil {
			return nil, fmt.Errorf("scratch: %w", err)
		}
		inst.scratch = s
		mounts = append(mounts[:len(mounts):len(mounts)], s.mount)
	}
	inst.reserved = 3 + uint32(len(mounts))
	cfg := p.cfg.
		WithStdin(switchIn{inst.streams}).
		WithStdout(switchOut{s: inst.streams}).
		WithStderr(switchOut{s: inst.streams, err: true}).
		WithNanosleep(nanosleep(inst.sleep.get))
	if len(mounts) > 0 {
		fsc, err := fsConfigCount(mounts, inst.files)
		if err != nil {
			inst.scratch.remove()
			return nil, err
		}
		cfg = cfg.WithFSConfig(fsc)
	}
	mod, err := p.module.rt.InstantiateModule(ctx, p.compiledModule(), cfg)
	if err != nil {
		inst.mem.release()
		inst.scratch.remove()
		return nil, err
	}
	inst.mod = mod
	if err := w.prepareReset(inst); err != nil {
		inst.close()
		return nil, fmt.Errorf("%w: %w", errReuseStart, err)
	}
	return inst, nil
}

// prepareReset records the new instance's starting state.
func (w *warmPool) prepareReset(inst *warmInstance) error {
	p, mod := w.prog, inst.mod
	n := 0
	if im, ok := mod.(experimental.InternalModule); ok {
		n = im.NumGlobal()
	}
	exported, skip := func(int) string { return "" }, -1
	if p.snap != nil {
		// The snapshot module exports every global (snapshot.go).
		exported = func(i int) string { return rewrite.GlobalPrefix + strconv.Itoa(i) }
	} else if p.module.interrupt && n >= 2 {
		// The deadline checks' counter and flag are the last two globals;
		// only the flag is exported.
		skip = n - 2
		exported = func(i int) string {
			if i == n-1 {
				return InterruptGlobal
			}
			return ""
		}
	}
	g, err := newGlobalReset(mod, exported, skip)
	if err != nil {
		return err
	}
	inst.globals = g
	mem := mod.Memory()
	if mem == nil {
		return nil
	}
	inst.size = mem.Size()
	r := &memoryReset{}
	if p.snap != nil {
		img := p.snap.image
		if img.size != uint64(inst.size) {
			return fmt.Errorf("memory of %d bytes, image of %d", inst.size, img.size)
		}
		r.image = img.data
		_, pooled := inst.mem.mem.(*linearMemory)
		r.mapped = pooled && !img.copy && img.fd >= 0
	} else {
		buf, _ := mem.Read(0, inst.size)
		w.imageMu.Lock()
		if w.image == nil {
			w.image = bytes.Clone(buf)
		}
		r.image = w.image
		w.imageMu.Unlock()
		// Instantiation is deterministic without a start section (which
		// ReuseBlocker refuses): every instance starts as the first did.
		if !bytes.Equal(buf, r.image) {
			return errors.New("the instance's memory differs from the first instance's")
		}
	}
	if uint64(len(r.image)) != uint64(inst.size) {
		return errors.New("image and memory sizes differ")
	}
	inst.memory = r
	return nil
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
	stats := &w.prog.module.engine.pools.stats
	stats.idle.Add(-inst.owned)
	stats.instances.Add(1)
	stats.bytes.Add(int64(inst.size))
	return inst
}

// put keeps a reset instance, or closes it when the pool is full or
// closed or the idle budget is spent.
func (w *warmPool) put(inst *warmInstance) {
	stats := &w.prog.module.engine.pools.stats
	inst.owned = int64(inst.memory.ownedBytes())
	w.mu.Lock()
	if w.closed || len(w.idle) >= w.max {
		w.mu.Unlock()
		inst.close()
		return
	}
	if stats.idle.Add(inst.owned) > reuseIdleBudget {
		stats.idle.Add(-inst.owned)
		w.mu.Unlock()
		inst.close()
		return
	}
	inst.idle = time.Now()
	// An idle instance is not one in use (Engine.MemoryInUse); close
	// counts it back in before its memory is freed.
	stats.instances.Add(-1)
	stats.bytes.Add(-int64(inst.size))
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
		w.prog.module.engine.pools.stats.idle.Add(-inst.owned)
		inst.close()
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
		w.prog.module.engine.pools.stats.idle.Add(-inst.owned)
		inst.close()
	}
}

// Idle returns how many instances of the program wait to be reused.
func (p *Program) Idle() int {
	if p.warm == nil {
		return 0
	}
	p.warm.mu.Lock()
	defer p.warm.mu.Unlock()
	return len(p.warm.idle)
}

func (m *memoryReset) ownedBytes() uint64 {
	if m == nil {
		return 0
	}
	return m.owned
}

// close releases the instance, its memory and its scratch folder.
func (inst *warmInstance) close() {
	if inst.parked {
		stats := inst.mem.pool.stats
		stats.instances.Add(1)
		stats.bytes.Add(int64(inst.size))
	}
	closeInstance(context.Background(), inst.mod)
	inst.mem.release()
	inst.scratch.remove()
}

// errMemoryGrew: wazero cannot shrink a memory back.
var errMemoryGrew = errors.New("the memory grew")

// reset puts the instance back to its starting state.
func (inst *warmInstance) reset() error {
	if mem := inst.mod.Memory(); mem != nil {
		if mem.Size() != inst.size {
			return errMemoryGrew
		}
		buf, _ := mem.Read(0, inst.size)
		if err := inst.memory.reset(buf); err != nil {
			return err
		}
	}
	if err := inst.globals.reset(inst.mod); err != nil {
		return err
	}
	return inst.scratch.clear()
}

// runWarm is Run with a reused instance.
func (p *Program) runWarm(ctx context.Context, c *Call, st *callState) error {
	w := p.warm
	start := time.Now()
	inst := w.get()
	if inst == nil {
		var err error
		if inst, err = w.newInstance(ctx); err != nil {
			if errors.Is(err, errReuseStart) {
				why := err.Error()
				w.offWhy.Store(&why)
				w.off.Store(true)
				return errWarmOff
			}
			c.Instantiate = time.Since(start)
			return p.result(ctx, err)
		}
	} else {
		p.module.engine.pools.stats.reused.Add(1)
	}
	c.Instantiate = time.Since(start)
	st.reserved, st.keep = inst.reserved, true
	ctx = withCallState(ctx, st)
	if p.locks {
		var release func()
		var scratch *mount
		if inst.scratch != nil {
			scratch = &inst.scratch.mount
		}
		ctx, release = p.withLocks(ctx, scratch)
		defer release()
	}
	inst.streams.set(c.Stdin, c.Stdout, c.Stderr)
	inst.sleep.set(ctx)
	if m, ok := inst.mem.mem.(*linearMemory); ok {
		m.refused = false
	}
	stop := p.module.arm(ctx, inst.mod)
	raw := p.module.engine.guard.Run(func() error {
		if p.init {
			if err := inst.call(ctx, "_initialize"); err != nil {
				return err
			}
		}
		return inst.call(ctx, p.entry)
	})
	disarmed := stop()
	writeFailed := inst.streams.writeFailed()
	inst.streams.set(nil, nil, nil)
	inst.sleep.set(nil)
	err := p.result(ctx, raw)
	if err != nil && ctx.Err() == nil && inst.mem.refused() {
		err = &MemoryError{Limit: p.pool.limit, Err: err}
	}
	var exit *sys.ExitError
	clean := err == nil && (raw == nil || (errors.As(raw, &exit) && exit.ExitCode() == 0)) &&
		ctx.Err() == nil && (disarmed || !p.module.interrupt) && !writeFailed &&
		st.taintReason() == "" && inst.files.guestOpen() == 0 && !inst.mod.IsClosed()
	if clean && inst.reset() == nil {
		w.put(inst)
	} else {
		p.module.engine.pools.stats.discarded.Add(1)
		inst.close()
	}
	return err
}

// warmScratch is a reused instance's scratch folder: one folder for the
// instance's life, emptied after each request.
type warmScratch struct {
	dir   string
	root  *os.Root
	fs    *quotaFS
	mount mount
	size  int64
}

func newWarmScratch(guest string, size int64) (*warmScratch, error) {
	dir, err := os.MkdirTemp("", "wasigate-scratch-")
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &warmScratch{dir: dir, root: root, size: size}
	s.fs = &quotaFS{FS: &rootFS{root: root}, q: &quota{max: size}}
	s.mount = mount{guest: guest, fs: s.fs, root: root, writable: true}
	return s, nil
}

// clear empties the folder for the next request: what one request wrote
// there is never seen by the next.
func (s *warmScratch) clear() error {
	if s == nil {
		return nil
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
			return err
		}
	}
	s.fs.q = &quota{max: s.size}
	return nil
}

func (s *warmScratch) remove() {
	if s == nil {
		return
	}
	s.root.Close()
	os.RemoveAll(s.dir)
}

// Reuses returns how many requests ran in an instance an earlier request
// used, and how many instances were closed after their request instead
// of being reused (an unclean ending or a failed reset), engine-wide.
func (e *Engine) Reuses() (reused, discarded int) {
	return int(e.pools.stats.reused.Load()), int(e.pools.stats.discarded.Load())
}
