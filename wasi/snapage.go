package wasi

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// An interpreter's snapshot holds what its init drew from the random
// source: Python's string-hash secret (PYTHONHASHSEED), Ruby's hash seed.
// Each request of one snapshot shares them, so a client that learns one
// from the responses (the order of a set, say) can craft colliding keys
// for as long as the snapshot serves. Snapshots of interpreters (Ruby's
// and drivers', shared by the programs with the same init inputs) and of
// applications (Config.App, one program's own) are therefore taken again,
// with fresh randomness, once older than Options.SnapshotMaxAge:
//
//   - the first request that finds its snapshot too old starts the retake
//     in the background and is served by the old one, as are the requests
//     after it until the new one is ready; a retake that fails is tried
//     again a minute later (at most snapshot_max_age), the old one serving;
//   - one retake at a time, engine-wide: each runs an interpreter's init;
//   - a program moves to the new snapshot at its next request; the old one
//     is given back once no program and no running request uses it.
//
// A stored snapshot's age counts too: a start does not load one older
// than the age (snapstore.go).

// DefaultSnapshotMaxAge is the age past which an interpreter's snapshot is
// taken again when Options.SnapshotMaxAge is 0.
const DefaultSnapshotMaxAge = seam.DefaultSnapshotMaxAge

// snapMaxAge is the engine's snapshot_max_age; negative: never retaken.
func (e *Engine) snapMaxAge() time.Duration {
	return cmp.Or(e.snapAge, DefaultSnapshotMaxAge)
}

// retakeSlot lets one retake run at a time.
type retakeSlot struct {
	once sync.Once
	ch   chan struct{}
}

func (r *retakeSlot) acquire() {
	r.once.Do(func() { r.ch = make(chan struct{}, 1) })
	r.ch <- struct{}{}
}

func (r *retakeSlot) release() { <-r.ch }

// snapSrc is where a program's newest snapshot comes from, and who uses
// the older ones.
type snapSrc struct {
	e    *Engine
	take func() (*snapshot, error) // a retake: fresh randomness, not loaded
	// swapped, if not nil, is told of the new current snapshot (a keyed
	// snapshot's entry, which closeSnapshot closes with its module).
	swapped func(*snapshot)
	// owned: the snapshots are one program's (an application's); false,
	// the module's, which closes the current one itself.
	owned bool

	mu       sync.Mutex
	cur      *snapshot
	refs     map[*snapshot]int // generations of programs using each
	retaking bool
	failed   time.Time
	closed   bool
}

func newSnapSrc(e *Engine, cur *snapshot) *snapSrc {
	return &snapSrc{e: e, cur: cur, refs: map[*snapshot]int{}}
}

// acquire returns the current snapshot, held until release.
func (s *snapSrc) acquire() *snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[s.cur]++
	return s.cur
}

// release gives back a hold of acquire; an old snapshot nothing holds is
// closed.
func (s *snapSrc) release(x *snapshot) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.refs[x]--
	drop := s.refs[x] <= 0 && x != s.cur
	if s.refs[x] <= 0 {
		delete(s.refs, x)
	}
	s.mu.Unlock()
	if drop {
		x.close(context.Background(), s.e)
	}
}

// current is the newest snapshot; it starts a retake when that one is too
// old.
func (s *snapSrc) current() *snapshot {
	age := s.e.snapMaxAge()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur
	if age < 0 || s.closed || s.retaking || time.Since(cur.taken) < age ||
		(!s.failed.IsZero() && time.Since(s.failed) < min(age, time.Minute)) {
		return cur
	}
	s.retaking = true
	go s.retake()
	return cur
}

// retake takes a new snapshot and makes it the current one; the old one
// serves until then, and after for the requests already running it.
func (s *snapSrc) retake() {
	s.e.retakes.acquire()
	n, err := s.take()
	s.e.retakes.release()
	if err == nil && n.taken.IsZero() {
		n.taken = time.Now()
	}
	s.mu.Lock()
	s.retaking = false
	if err != nil {
		s.failed = time.Now()
		s.mu.Unlock()
		return
	}
	if s.closed {
		s.mu.Unlock()
		n.close(context.Background(), s.e)
		return
	}
	old := s.cur
	s.cur, s.failed = n, time.Time{}
	if s.swapped != nil {
		s.swapped(n)
	}
	drop := s.refs[old] <= 0
	s.mu.Unlock()
	if drop {
		old.close(context.Background(), s.e)
	}
}

// close gives back every snapshot still open but the module's current one
// (all of them when owned); later releases and retakes close their own.
func (s *snapSrc) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	var open []*snapshot
	for x := range s.refs {
		if x != s.cur {
			open = append(open, x)
		}
	}
	if s.owned {
		open = append(open, s.cur)
	}
	s.mu.Unlock()
	for _, x := range open {
		x.close(context.Background(), s.e)
	}
}

// freshness is a program's current generation: the program its requests
// run (itself at first) and the snapshot that one starts from.
type freshness struct {
	src *snapSrc
	c   Config

	mu  sync.Mutex
	cur *generation
}

type generation struct {
	prog *Program
	snap *snapshot
	runs int
	old  bool // replaced: retired when its last run ends
}

// attachFresh makes p follow the retakes of the keyed snapshot s, taken
// for in, and returns the snapshot p starts from (the newest).
func (p *Program) attachFresh(s *snapshot, in snap.Inputs, c Config) *snapshot {
	m := p.module
	if m.ruby() == nil && !m.isDriver() {
		return s
	}
	m.snap.keyedMu.Lock()
	r := m.snap.keyed[in.Key()]
	if r != nil && r.src == nil && r.snap == s {
		r.src = newSnapSrc(m.engine, s)
		limit := p.pool.Limit()
		fresh := in
		fresh.Fresh = true
		r.src.take = func() (*snapshot, error) { return m.takeSnapshot(limit, fresh) }
		r.src.swapped = func(n *snapshot) {
			m.snap.keyedMu.Lock()
			r.snap = n
			m.snap.keyedMu.Unlock()
		}
	}
	m.snap.keyedMu.Unlock()
	if r == nil || r.src == nil {
		return s
	}
	cur := r.src.acquire()
	if cur.image.Size() > p.pool.Limit() {
		r.src.release(cur)
		return s
	}
	p.fresh = &freshness{src: r.src, c: c}
	p.fresh.cur = &generation{prog: p, snap: cur}
	return cur
}

// attachAppFresh makes an application's program, started from its own
// snapshot, take it again when it is too old.
func (p *Program) attachAppFresh(in snap.Inputs, c Config) {
	src := newSnapSrc(p.module.engine, p.snap)
	src.owned = true
	m, limit := p.module, p.pool.Limit()
	in.Fresh = true
	src.take = func() (*snapshot, error) { return m.takeSnapshot(limit, in) }
	p.fresh = &freshness{src: src, c: c}
	p.fresh.cur = &generation{prog: p, snap: src.acquire()}
}

// enterFresh returns the program a request of p runs, which it holds until
// leave is called.
func (p *Program) enterFresh() (run *Program, leave func()) {
	f := p.fresh
	if s := f.src.current(); s != f.snap() {
		f.switchTo(p)
	}
	f.mu.Lock()
	g := f.cur
	g.runs++
	f.mu.Unlock()
	return g.prog, func() { f.leave(g) }
}

func (f *freshness) snap() *snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.snap
}

// switchTo makes the source's current snapshot p's: a copy of p started
// from it.
func (f *freshness) switchTo(p *Program) {
	s := f.src.acquire()
	q := new(Program)
	*q = *p
	q.fresh, q.warm, q.reuseReason = nil, nil, ""
	q.own = false // the source closes the snapshots
	ok := s.image.Size() <= p.pool.Limit()
	if ok {
		q.startFrom(s)
		ok = p.module.bindCode(q) == nil
	}
	if ok {
		q.setupReuse(f.c)
	}
	f.mu.Lock()
	if !ok || f.cur.snap == s {
		f.mu.Unlock()
		f.src.release(s)
		return
	}
	old := f.cur
	f.cur = &generation{prog: q, snap: s}
	old.old = true
	idle := old.runs == 0
	f.mu.Unlock()
	if idle {
		f.retire(old)
	}
}

func (f *freshness) leave(g *generation) {
	f.mu.Lock()
	g.runs--
	idle := g.old && g.runs == 0
	f.mu.Unlock()
	if idle {
		f.retire(g)
	}
}

// retire gives back what a replaced generation held.
func (f *freshness) retire(g *generation) {
	if g.prog.warm != nil {
		g.prog.warm.close(context.Background())
	}
	f.src.release(g.snap)
}

// closeFresh closes an application's snapshots: the current and any old
// one a request still held. No run of p is under way.
func (p *Program) closeFresh() {
	f := p.fresh
	f.mu.Lock()
	g := f.cur
	f.mu.Unlock()
	if g.prog != p && g.prog.warm != nil {
		g.prog.warm.close(context.Background())
	}
	f.src.close()
	p.snap = nil // closed above, not again by Close
}

// closeOldSnapshots closes the snapshots of the module's keyed entries
// that retakes replaced and programs still hold; the current ones are
// closed by closeSnapshot.
func (m *Module) closeOldSnapshots() {
	m.snap.keyedMu.Lock()
	var srcs []*snapSrc
	for _, r := range m.snap.keyed {
		if r.src != nil {
			srcs = append(srcs, r.src)
		}
	}
	m.snap.keyedMu.Unlock()
	for _, s := range srcs {
		s.close()
	}
}
