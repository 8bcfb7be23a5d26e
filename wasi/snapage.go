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
// The retake itself, shared with learned preloads, is snapsrc.go's.
//
// A stored snapshot's age counts too: a start does not load one older
// than the age (snapstore.go).

// snapMaxAge is the engine's snapshot_max_age; negative: never retaken.
func (e *Engine) snapMaxAge() time.Duration {
	return cmp.Or(e.snapAge, seam.DefaultSnapshotMaxAge)
}

// freshness is a program's current generation: the program its requests
// run (itself at first) and the snapshot that one starts from.
type freshness struct {
	src *snapSrc
	c   Config

	mu     sync.Mutex
	cur    *generation
	closed bool // closeFresh ran: a second Close gives back nothing again
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
	src := newSnapSrc(p.module, p.pool.Limit(), in, p.snap)
	src.owned = true
	p.fresh = &freshness{src: src, c: c}
	p.fresh.cur = &generation{prog: p, snap: src.acquire()}
}

// run is Program.Run of a program that follows its snapshot's retakes:
// the current generation runs the call, and what a learning run reports
// is learned afterwards.
func (f *freshness) run(ctx context.Context, p *Program, c *Call) error {
	if s := f.src.current(f.c.Retaken); s != f.snap() {
		f.switchTo(p)
	}
	f.mu.Lock()
	g := f.cur
	g.runs++
	f.mu.Unlock()
	defer f.leave(g)
	l := f.src.learn
	if l == nil || !l.wants() {
		return g.prog.run(ctx, c)
	}
	rep := &learnReport{}
	ctx, cc := learnCall(context.WithValue(ctx, learnKey{}, rep), g.prog, c)
	err := g.prog.run(ctx, cc)
	c.Instantiate = cc.Instantiate
	if data := rep.get(); data != nil {
		l.take(data, g.prog, f.c.Retaken)
	}
	return err
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
	q.mounts = withRemounts(p.mounts, s.remounts)
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
		if q.warm != nil {
			p.module.warm.remove(q.warm)
		}
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

// retire gives back what a replaced generation held. Its pool leaves the
// module's set: kept there, it would hold the generation's program and so
// the replaced snapshot, one more per retake, until the site closes.
func (f *freshness) retire(g *generation) {
	if g.prog.warm != nil {
		g.prog.module.warm.remove(g.prog.warm)
		g.prog.warm.close(context.Background())
	}
	f.src.release(g.snap)
}

// closeFresh closes an application's snapshots: the current and any old
// one a request still held. An interpreter's snapshots are shared with
// the module's other programs: p gives back only its generation's. No run
// of p is under way.
func (p *Program) closeFresh() {
	f := p.fresh
	f.mu.Lock()
	g, closed := f.cur, f.closed
	f.closed = true
	f.mu.Unlock()
	if closed {
		return
	}
	if g.prog != p && g.prog.warm != nil {
		p.module.warm.remove(g.prog.warm)
		g.prog.warm.close(context.Background())
	}
	if f.src.owned {
		f.src.close()
	} else {
		f.src.release(g.snap)
	}
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
