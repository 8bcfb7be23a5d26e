package wasi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// Snapshots (issue 12): a reactor's _initialize runs once, at load time,
// in a scratch instance; its memory and globals are captured; every
// request's instance then starts from that state (internal/rewrite for
// the module, snapimage_linux.go for the memory) instead of running the init
// again. Each request still gets its own instance and its own memory.
//
// What the scratch instance gets: no arguments, an empty environment, no
// volumes (so no file descriptor beyond stdio can be open when the init
// ends; ruby.wasm gets one empty read-only folder at each of the program's
// guest paths, see rubysnap.go), stdout discarded, real clocks and
// randomness. Whatever the init
// reads from them is frozen into the snapshot: a program that reads its
// environment or seeds a generator in its init sees the snapshot's values
// in every request. What a request reads itself (environ_get, args_get,
// clock_time_get, random_get, stdin) is its own.

// ErrNoSnapshot wraps every reason a program runs without a snapshot.
var ErrNoSnapshot = rewrite.ErrNoSnapshot

// InitMarkerEnv is in a driver's init environment (wasigate_init) and in no
// request's.
const InitMarkerEnv = "WASIGATE_SNAPSHOT_INIT=1"

// DefaultSnapshotInitTimeout bounds the init of a snapshot when
// Options.SnapshotInitTimeout is 0.
const DefaultSnapshotInitTimeout = 30 * time.Second

// SnapshotInfo says whether a program's instances start from a snapshot,
// for the startup log and `wasigate check`.
type SnapshotInfo struct {
	On       bool          // instances start from the snapshot
	Cached   bool          // loaded from the cache folder, not taken now
	InitTime time.Duration // how long the init ran when the snapshot was taken
	Image    uint64        // bytes of linear memory in the image
	Mapped   bool          // mapped copy-on-write; false: copied per instance
	Reason   string        // why not, when not On ("" when not asked for)
	// Code is the bytes of machine code of the snapshot's module, from
	// its compilation cache entry (codesize.go); 0 when unknown.
	Code int64
	// InitErr is set when an interpreter's own init (ruby-init and its
	// requires, a driver's wasigate_init and its preloads) failed: every
	// request would fail the same way, so the server refuses to start.
	InitErr error
}

// ErrInitFailed is the cause of a snapshot refused because the
// interpreter's init (its preloads) failed, not because of the snapshot.
var ErrInitFailed = errors.New("the interpreter's init failed")

// snapshot is a module's initialised state.
type snapshot struct {
	compiled wazero.CompiledModule
	image    *snapImage
	info     SnapshotInfo
}

// moduleSnapshot is the once-per-module snapshot state of a Module.
type moduleSnapshot struct {
	once    sync.Once
	reactor bool // exports _initialize: a snapshot can be taken
	// wasm is the module as compiled, kept for a reactor's snapshot until
	// src, the file it is read from again, is known (snapBytes).
	mu   sync.Mutex
	wasm []byte
	src  string
	snap *snapshot
	err  error
	// keyed: the snapshots of ruby.wasm (rubysnap.go) and of drivers
	// (driver.go), by init inputs; their bytes stay in wasm for the next
	// program with other inputs.
	keyedMu sync.Mutex
	keyed   map[string]*keyedSnap
}

// snapInputs are what a snapshot's init depends on beyond the module:
// ruby.wasm's preload list and the guest paths of the preopened folders
// (wasi-libc lists the preopens once, in the init, so requests must see
// the same ones at the same descriptors).
type snapInputs struct {
	preload []string
	// dirs are the preopened folders in a request's order; the init sees
	// an empty read-only folder at each, except those with an fs.
	dirs []initDir
	// limit: Ruby's heap grows its memory as far as the limit lets it, so
	// the image of a larger limit may not fit a smaller one.
	limit uint64
	// args and env: what a driver's wasigate_init gets (driver.go).
	args, env []string
	// app: the init loads an application (appsnap.go); not part of the
	// key, which its env already makes distinct.
	app bool
	// learned: the interpreter's learned preloads (learn.go), in the key;
	// learnFailed collects those that fail to import, not in the key.
	learned     []string
	learnFailed *learnFailures
}

// initDir is a preopened folder as a snapshot's init sees it.
type initDir struct {
	guest string
	fs    experimentalsys.FS // nil: an empty folder
	host  string             // the folder behind fs, for the key
}

func (in snapInputs) key() string {
	var b strings.Builder
	b.WriteString("limit " + strconv.FormatUint(in.limit, 10) + "\npreload " + strconv.Quote(strings.Join(in.preload, "\x00")) + "\ndirs")
	for _, d := range in.dirs {
		b.WriteString(" " + strconv.Quote(d.guest))
		if d.fs != nil {
			b.WriteString("=" + strconv.Quote(d.host))
		}
	}
	b.WriteString("\nargs " + strconv.Quote(strings.Join(in.args, "\x00")) + "\nenv " + strconv.Quote(strings.Join(in.env, "\x00")))
	if len(in.learned) > 0 {
		b.WriteString("\nlearned " + strconv.Quote(strings.Join(in.learned, "\x00")))
	}
	return b.String()
}

// seesVolumes: the init reads host folders, whose files may change
// between two starts, so the snapshot is not kept in the cache folder.
func (in snapInputs) seesVolumes() bool {
	for _, d := range in.dirs {
		if d.fs != nil {
			return true
		}
	}
	return false
}

// snapshot returns the module's snapshot, taken (or loaded from the cache)
// the first time. limit caps the scratch instance's memory; in matters
// only to ruby.wasm.
func (m *Module) snapshot(limit uint64, in snapInputs) (*snapshot, error) {
	if m.ruby() != nil || m.isDriver() {
		return m.keyedSnapshot(limit, in)
	}
	m.snap.once.Do(func() {
		if !m.snap.reactor {
			m.snap.err = fmt.Errorf("%w: not a reactor", ErrNoSnapshot)
			return
		}
		m.snap.snap, m.snap.err = m.takeSnapshot(limit, snapInputs{})
		m.snap.mu.Lock()
		m.snap.wasm = nil
		m.snap.mu.Unlock()
	})
	return m.snap.snap, m.snap.err
}

// snapshotKey names a snapshot in the cache: the hash of the module as
// compiled (after the engine's own rewrites, such as the deadline checks,
// so that changing them takes a new snapshot) and the init's inputs (which
// export, no arguments, an empty environment; for ruby.wasm, ruby-init's
// command line and the preloads). The version changes when what a
// snapshot holds does.
func snapshotKey(mod [sha256.Size]byte, ruby, driver bool, in snapInputs) string {
	init := "_initialize"
	if ruby {
		init += "\nruby-init " + strconv.Quote(strings.Join(rubyInitLine(), "\x00")) + "\n" + in.key()
	} else if driver || len(in.args) > 0 || len(in.env) > 0 || len(in.dirs) > 0 {
		// A driver's, even with no inputs: not the snapshot of its
		// _initialize alone (what an older wasigate took of the same
		// bytes run with an entrypoint, without wasigate_init).
		init += "\n" + driverInit + "\n" + in.key()
	}
	sum := sha256.Sum256([]byte("wasigate snapshot v2\nmodule " + hex.EncodeToString(mod[:]) + "\ninit " + init + "\nargs\nenv\n"))
	return hex.EncodeToString(sum[:])
}

func (m *Module) takeSnapshot(limit uint64, in snapInputs) (*snapshot, error) {
	e := m.engine
	key := snapshotKey(m.code.hash, m.ruby() != nil, m.isDriver(), in)
	cache := !in.seesVolumes()
	if cache {
		if s := e.loadSnapshot(m.rt, key, m); s != nil {
			return s, nil
		}
	}
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
	values, mem, initTime, err := m.boundedInit(scratch, sm.Globals(), limit, in)
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
	out, err := sm.Rewrite(values, uint32(len(mem)/wasmPage))
	if err != nil {
		return nil, err
	}
	// Every global of the snapshot module is exported as well, so that a
	// reused instance's can be set back to the snapshot's values (reuse.go).
	if exp, err := rewrite.NewSnapshot(out); err == nil {
		out = exp.Instrument()
	}
	img, err := newSnapImage(mem)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSnapshot, err)
	}
	compiled, err := e.compileBytes(ctx, m.rt, out)
	if err != nil {
		img.close()
		return nil, fmt.Errorf("%w: compile the snapshot: %w", ErrNoSnapshot, err)
	}
	if cache {
		e.saveSnapshot(key, out, mem, m)
	}
	return &snapshot{compiled: compiled, image: img, info: SnapshotInfo{
		On: true, InitTime: initTime, Image: img.size, Mapped: !img.copy,
		Code: e.codeSize(sha256Hex(out), definedFunctions(out))}}, nil
}

// runInit instantiates the scratch module, runs _initialize and returns
// the values of its globals and a copy of its memory. The deadline checks
// stop it at timeout; boundedInit bounds it whatever it does.
func (m *Module) runInit(scratch wazero.CompiledModule, globals int, limit uint64, in snapInputs, timeout time.Duration) (values []uint64, mem []byte, took time.Duration, err error) {
	e := m.engine
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	defer func() {
		// Stopped at its deadline, however the guest ended: the reason
		// names the key, not the trap.
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w: the init ran past snapshot_init_timeout (%s) and was stopped; make it return sooner, or raise [server] snapshot_init_timeout", ErrNoSnapshot, timeout)
		}
	}()
	env, err := newEnviron(in.env)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: init environment: %w", ErrNoSnapshot, err)
	}
	ctx = context.WithValue(ctx, environKey{}, env)
	ctx = withCallState(ctx, newCallState(in.args))
	ctx = withInitLearn(ctx, in)
	cm := &callMemory{pool: e.pools.get(limit)}
	ctx = experimental.WithMemoryAllocator(ctx, cm)
	defer cm.release()
	stderr := tailBuffer{max: tailMax}
	if in.app {
		stderr.max = appTailMax
	}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader).WithStderr(&stderr).
		WithArgs(in.args...).WithStdin(strings.NewReader(""))
	files := &fileCount{}
	if len(in.dirs) > 0 {
		fsc, done, err := initFS(in.dirs, files)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%w: %w", ErrNoSnapshot, err)
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
		return nil, nil, 0, fmt.Errorf("%w: instantiate: %w", ErrNoSnapshot, err)
	}
	defer closeInstance(ctx, mod)
	// An instrumented module stops at the timeout (deadline.go).
	defer m.arm(ctx, mod)()
	// Any ending but a return refuses the snapshot, proc_exit(0) too: the
	// instance is closed and its state is not what a request would see.
	if err := m.callStart(ctx, mod); err != nil {
		return nil, nil, 0, fmt.Errorf("%w: start function failed: %w%s", ErrNoSnapshot, err, stderr.suffix())
	}
	if err := call(ctx, mod, "_initialize"); err != nil {
		return nil, nil, 0, fmt.Errorf("%w: _initialize failed: %w%s", ErrNoSnapshot, err, stderr.suffix())
	}
	if m.ruby() != nil {
		if err := m.rubyInit(ctx, mod, in.preload); err != nil {
			return nil, nil, 0, fmt.Errorf("%w: %w: %w%s", ErrNoSnapshot, ErrInitFailed, err, stderr.suffix())
		}
		m.rubyLearnedInit(ctx, mod, in)
	} else if m.isDriver() {
		if err := runDriverInit(ctx, mod); err != nil {
			return nil, nil, 0, fmt.Errorf("%w: %w: %w%s", ErrNoSnapshot, ErrInitFailed, err, stderr.suffix())
		}
	}
	took = time.Since(start)
	// A file the init left open would be a descriptor number in the
	// image with nothing behind it, or another file, in a request.
	if n := files.guestOpen(); n > 0 {
		return nil, nil, 0, fmt.Errorf("%w: the init left %d file(s) open", ErrNoSnapshot, n)
	}
	// Ruby reads it in ruby-init and a driver gets its configured one;
	// each request's prelude or wasigate_run replaces it (rubysnap.go,
	// driver.go).
	if env.read && m.ruby() == nil && !m.isDriver() {
		// wasi-libc reads it eagerly in a constructor when the program
		// uses `environ`; every request would see the empty one.
		return nil, nil, 0, fmt.Errorf("%w: _initialize read the environment, which would be frozen (empty) into every request", ErrNoSnapshot)
	}
	values = make([]uint64, globals)
	for i := range values {
		g := mod.ExportedGlobal(rewrite.GlobalPrefix + strconv.Itoa(i))
		if g == nil {
			return nil, nil, 0, fmt.Errorf("%w: global %d not exported", ErrNoSnapshot, i)
		}
		values[i] = g.Get()
	}
	memory := mod.Memory()
	if memory == nil {
		return nil, nil, 0, fmt.Errorf("%w: no memory", ErrNoSnapshot)
	}
	view, _ := memory.Read(0, memory.Size())
	return values, bytes.Clone(view), took, nil
}

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

// useSnapshot makes p start its instances from the module's snapshot when
// it can, and records why not otherwise.
func (p *Program) useSnapshot(c Config) {
	if c.NoSnapshot {
		p.snapInfo.Reason = "turned off"
		return
	}
	in := p.snapInputs(c)
	s, err := p.module.snapshot(p.pool.limit, in)
	if err != nil {
		// One line for logs: wazero's traps add a stack trace.
		p.snapInfo.Reason, _, _ = strings.Cut(err.Error(), "\n")
		if errors.Is(err, ErrInitFailed) {
			p.snapInfo.InitErr = errors.New(p.snapInfo.Reason)
		}
		return
	}
	if s.image.size > p.pool.limit {
		p.snapInfo.Reason = fmt.Sprintf("%v: the image (%d bytes) is larger than the memory limit (%d bytes)", ErrNoSnapshot, s.image.size, p.pool.limit)
		return
	}
	p.startFrom(s)
}

// startFrom makes p's instances start from s.
func (p *Program) startFrom(s *snapshot) {
	p.snap = s
	p.init = false
	p.pool = p.module.engine.pools.getImage(p.pool.limit, s.image)
	p.snapInfo = s.info
}

// snapInputs are what the init of p's snapshot gets.
func (p *Program) snapInputs(c Config) snapInputs {
	in := snapInputs{preload: c.Preload, limit: p.pool.limit}
	driver := p.module.isDriver()
	if driver {
		// The init's environment also holds InitMarkerEnv, which no
		// request has: a driver that leaves the init's environment in
		// place shows it to every request.
		in.args, in.env = c.InitArgs, append(slices.Clip(c.InitEnv), InitMarkerEnv)
	}
	for _, mt := range p.mounts {
		d := initDir{guest: mt.guest}
		// A driver's init imports from the read-only volumes (Python's
		// stdlib and site-packages); what it may write stays empty.
		if driver && !mt.writable {
			d.fs, d.host = mt.fs, mt.host
		}
		in.dirs = append(in.dirs, d)
	}
	if p.scratch != "" {
		in.dirs = append(in.dirs, initDir{guest: p.scratch})
	}
	p.learnInputs(&in, c)
	return in
}

// Snapshot says whether the program's instances start from a snapshot.
func (p *Program) Snapshot() SnapshotInfo { return p.snapInfo }

// compiledModule is what Run instantiates.
func (p *Program) compiledModule() wazero.CompiledModule { return p.code }

// closeSnapshot releases the module's snapshot, if it took one.
func (m *Module) closeSnapshot(ctx context.Context) {
	snaps := []*snapshot{m.snap.snap}
	m.snap.keyedMu.Lock()
	for _, r := range m.snap.keyed {
		snaps = append(snaps, r.snap)
	}
	m.snap.keyedMu.Unlock()
	for _, s := range snaps {
		if s != nil {
			s.close(ctx, m.engine)
		}
	}
}

// tailBuffer keeps the last bytes written to it: the end of the init's
// stderr, for the reason a snapshot was refused.
type tailBuffer struct {
	b   []byte
	max int
}

// tailMax is what a refused snapshot's reason quotes of the init's
// stderr; appTailMax, an application's, whose traceback is the operator's
// only clue to a failed load.
const (
	tailMax    = 512
	appTailMax = 8 << 10
)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) suffix() string {
	s := string(bytes.TrimSpace(t.b))
	if s == "" {
		return ""
	}
	return " (stderr: " + strconv.Quote(s) + ")"
}
