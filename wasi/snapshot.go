package wasi

import (
	"context"
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

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// Snapshots
// (cmd/wasigate/DECISIONS.md#reactors-start-from-a-snapshot-of-their-init):
// a reactor's _initialize runs once, at load time,
// in a scratch instance; its memory and globals are captured; every
// request's instance then starts from that state (internal/rewrite for
// the module, internal/snap for the memory) instead of running the init
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

// initMarkerEnv is in a driver's init environment (wasigate_init) and in no
// request's.
const initMarkerEnv = "WASIGATE_SNAPSHOT_INIT=1"

// snapshot is a module's initialised state.
type snapshot struct {
	compiled wazero.CompiledModule
	image    *snap.Image
	info     seam.Snapshot
	taken    time.Time  // when its init ran (snapage.go)
	deps     []snap.Dep // what its init read on its read-only volumes (snapedit.go)
	// shared: compiled is the module's shared snapshot module
	// (sharedcode.go), held through it, and each instance is given start.
	shared *codeEntry
	start  *instanceStart
	// remounts: the watched folders its init saw opened again after a
	// swap, which its programs mount in place of their own (snapswap.go).
	remounts map[string]guestfs.Mount
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

// snapshot returns the module's snapshot, taken (or loaded from the cache)
// the first time. limit caps the scratch instance's memory; in matters
// only to ruby.wasm.
func (m *Module) snapshot(limit uint64, in snap.Inputs, c Config) (*snapshot, error) {
	if m.ruby() != nil || m.isDriver() {
		return m.keyedSnapshot(limit, in, c)
	}
	m.snap.once.Do(func() {
		if !m.snap.reactor {
			m.snap.err = fmt.Errorf("%w: not a reactor", ErrNoSnapshot)
			return
		}
		m.snap.snap, m.snap.err = m.takeSnapshot(limit, snap.Inputs{})
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
func snapshotKey(mod [sha256.Size]byte, ruby, driver bool, in snap.Inputs) string {
	init := "_initialize"
	if ruby {
		init += "\nruby-init " + strconv.Quote(strings.Join(rubyInitLine(), "\x00")) + "\n" + in.Key() +
			"\nheadroom " + strconv.Itoa(rubyHeadroom) // rubysnap.go
	} else if driver || len(in.Args) > 0 || len(in.Env) > 0 || len(in.Dirs) > 0 {
		// A driver's, even with no inputs: not the snapshot of its
		// _initialize alone (what an older wasigate took of the same
		// bytes run with an entrypoint, without wasigate_init).
		init += "\n" + driverInit + "\n" + in.Key()
	}
	sum := sha256.Sum256([]byte("wasigate snapshot v2\nmodule " + hex.EncodeToString(mod[:]) + "\ninit " + init + "\nargs\nenv\n"))
	return hex.EncodeToString(sum[:])
}

// useSnapshot makes p start its instances from the module's snapshot when
// it can, and records why not otherwise.
func (p *Program) useSnapshot(c Config) {
	if c.NoSnapshot {
		p.snapInfo.Off, p.snapInfo.Reason = true, "turned off"
		return
	}
	in := p.snapInputs(c)
	s, err := p.module.snapshot(p.pool.Limit(), in, c)
	if err != nil {
		// One line for logs: wazero's traps add a stack trace.
		p.snapInfo.Reason, _, _ = strings.Cut(err.Error(), "\n")
		if errors.Is(err, ErrInitFailed) {
			p.snapInfo.InitErr = errors.New(p.snapInfo.Reason)
		}
		return
	}
	if s.image.Size() > p.pool.Limit() {
		p.snapInfo.Reason = fmt.Sprintf("%v: the image (%d bytes) is larger than the memory limit (%d bytes)", ErrNoSnapshot, s.image.Size(), p.pool.Limit())
		return
	}
	p.startFrom(p.attachFresh(s, in, c))
}

// startFrom makes p's instances start from s.
func (p *Program) startFrom(s *snapshot) {
	p.snap = s
	p.init = false
	p.pool = p.module.engine.pools.GetImage(p.pool.Limit(), s.image)
	p.snapInfo = s.info
}

// snapInputs are what the init of p's snapshot gets.
func (p *Program) snapInputs(c Config) snap.Inputs {
	in := snap.Inputs{Preload: c.Preload, Limit: p.pool.Limit()}
	driver := p.module.isDriver()
	if driver {
		// The init's environment also holds initMarkerEnv, which no
		// request has: a driver that leaves the init's environment in
		// place shows it to every request.
		in.Args, in.Env = c.InitArgs, append(slices.Clip(c.InitEnv), initMarkerEnv)
	}
	for _, mt := range p.mounts {
		d := snap.InitDir{Guest: mt.Guest}
		// A driver's init imports from the read-only volumes (Python's
		// stdlib and site-packages); what it may write stays empty.
		if driver && !mt.Writable {
			d.FS, d.Host = mt.FS, mt.Host
		}
		in.Dirs = append(in.Dirs, d)
	}
	if p.scratch != "" {
		in.Dirs = append(in.Dirs, snap.InitDir{Guest: p.scratch})
	}
	// Learned preloads (learn.go): the list itself is added by the
	// snapshot's source.
	in.Learn = c.Learn && !c.App && (driver || p.module.ruby() != nil)
	return in
}

// Snapshot says whether the program's instances start from a snapshot.
func (p *Program) Snapshot() seam.Snapshot { return p.snapInfo }

// compiledModule is what Run instantiates.
func (p *Program) compiledModule() wazero.CompiledModule { return p.code }

// closeSnapshot releases the module's snapshot, if it took one.
func (m *Module) closeSnapshot(ctx context.Context) {
	m.closeOldSnapshots()
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
