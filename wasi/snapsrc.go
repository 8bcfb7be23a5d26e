package wasi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// An interpreter's snapshot is taken again in the background for two
// reasons, by one mechanism: it is older than snapshot_max_age (fresh
// randomness, snapage.go), or its runs imported modules worth preloading
// (learn.go). Either way the old snapshot serves until the new one is
// ready, one retake runs at a time in the engine, a retake takes in what
// both triggers asked for (the learned names pending and, when past the
// age, fresh randomness), and each program moves to the new snapshot at
// its next request. Each retake, and each that fails, is one seam.RetakeEvent.
//
// Fresh randomness must not depend on the learned names being loadable:
// after an age retake with them fails (its init too slow, its image too
// large), the next age retake leaves them out (the learner keeps its list)
// and the one after tries them again.

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
	e     *Engine
	m     *Module
	limit uint64
	// base: the init's inputs without learned names; a retake adds the
	// learner's.
	base  snap.Inputs
	learn *learner // nil: nothing learned
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
	// unlearned: why the last age retake with the learned names failed;
	// the next age retake is taken without them.
	unlearned error
	closed    bool
	hook      func(seam.RetakeEvent) // the Config.Retaken of the run that asked last

	// Edits of the files the init read under watched folders (snapedit.go).
	watch      []string            // the folders' guest paths
	watchRoots map[string]*os.Root // by guest path
	curWatch   []watchFile         // what cur's init read there
	editFlight *editFlight         // the retake under way
	editFail   *editFailure        // the last retake failed
	editGen    int                 // retakes for edits ended
	editEnded  time.Time           // when the last one ended

	// Watched folders renamed over (snapswap.go): what was opened of each,
	// the folders opened again, by guest path, those not yet in a
	// snapshot, and how many times one was opened again.
	watchDirs   map[string]watchDir
	remounts    map[string]guestfs.Mount
	swapPending []string
	swapGen     int
}

func newSnapSrc(m *Module, limit uint64, base snap.Inputs, cur *snapshot) *snapSrc {
	return &snapSrc{e: m.engine, m: m, limit: limit, base: base, cur: cur, refs: map[*snapshot]int{}}
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

// current is the newest snapshot; it starts a retake when that one is
// older than snapshot_max_age. hook is the asking run's Config.Retaken.
func (s *snapSrc) current(hook func(seam.RetakeEvent)) *snapshot {
	age := s.e.snapMaxAge()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur
	if age < 0 || s.closed || s.retaking || time.Since(cur.taken) < age ||
		(!s.failed.IsZero() && time.Since(s.failed) < min(age, time.Minute)) {
		return cur
	}
	s.retaking, s.hook = true, hook
	go s.retake(true)
	return cur
}

// learned starts a retake for the learner's pending names, unless one is
// running (it looks at the pending names again when it ends).
func (s *snapSrc) learned() {
	s.mu.Lock()
	if s.closed || s.retaking {
		s.mu.Unlock()
		return
	}
	s.retaking = true
	s.mu.Unlock()
	s.retake(false)
}

// errLearnImage refuses a learned snapshot whose image is too large.
var errLearnImage = errors.New("the learned snapshot's image is larger than its cap")

// retake takes a new snapshot, with fresh randomness when aged and with
// the learned names pending, and makes it the current one; the old one
// serves until then, and after for the requests already running it.
func (s *snapSrc) retake(aged bool) {
	if !s.e.bg.start() { // the engine is closing
		s.mu.Lock()
		s.retaking = false
		s.mu.Unlock()
		return
	}
	defer s.e.bg.done()
	s.e.retakes.acquire()
	defer s.e.retakes.release()
	if s.e.bg.ctx.Err() != nil {
		s.mu.Lock()
		s.retaking = false
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	in, re, gen := s.base, s.remounts, s.swapGen
	s.mu.Unlock()
	ev := seam.RetakeEvent{Module: s.m.Name}
	if aged {
		in.Fresh = true
		ev.Reasons = append(ev.Reasons, seam.RetakeAge)
		s.mu.Lock()
		ev.Unlearned = s.unlearned
		s.mu.Unlock()
	}
	var list, added []string
	fails := &learnFailures{}
	if l := s.learn; l != nil && ev.Unlearned == nil {
		list, added = l.next()
		if len(added) > 0 {
			ev.Reasons = append(ev.Reasons, seam.RetakeLearned)
		}
		in = withLearned(in, list, s.m.ruby() == nil)
		in.LearnFailed = fails.add
	}
	if len(ev.Reasons) == 0 {
		s.mu.Lock()
		s.retaking = false
		s.mu.Unlock()
		return
	}
	n, err := s.m.takeSnapshot(s.limit, in)
	if err == nil && n.taken.IsZero() {
		n.taken = time.Now()
	}
	if imax := min(s.e.learnImageMax, s.limit); err == nil && len(list) > 0 && n.image.Size() > imax {
		n.close(context.Background(), s.e)
		err = fmt.Errorf("%w (%d bytes; cap %d)", errLearnImage, n.image.Size(), imax)
	}
	ev.Dropped, ev.Err = fails.list(), err
	s.mu.Lock()
	s.retaking = false
	hook := s.hook
	switch { // without the learned names once, after a failure with them
	case err == nil && (aged || len(list) > 0):
		s.unlearned = nil
	case err != nil && aged && len(list) > 0:
		s.unlearned = err
	}
	if err != nil {
		if aged { // tried again a minute later
			s.failed = time.Now()
		}
		s.mu.Unlock()
		if s.learn != nil {
			ev.Learned = s.learn.refused(ev.Unlearned == nil && errors.Is(err, errLearnImage))
		}
		s.log(hook, ev)
		return
	}
	if s.closed {
		s.mu.Unlock()
		n.close(context.Background(), s.e)
		return
	}
	old, drop := s.install(n, re, gen)
	s.mu.Unlock()
	if drop {
		old.close(context.Background(), s.e)
	}
	ev.Image, ev.Init = n.info.Image, n.info.InitTime
	switch {
	case ev.Unlearned != nil && s.learn != nil:
		// The learner's list stands; the current snapshot lacks it until a
		// retake with it succeeds.
		ev.Learned = s.learn.refused(false)
	case s.learn != nil:
		var werr error
		ev.Added, ev.Learned, werr = s.learn.commit(list, added, ev.Dropped)
		if werr != nil {
			ev.Err = fmt.Errorf("keep the learned list: %w", werr)
		}
	}
	s.log(hook, ev)
}

// install makes n, whose init saw the watched folders of re as opened
// again swap times (snapswap.go), the current snapshot and says whether
// the old one, which nothing holds, is to be closed; s.mu is held.
func (s *snapSrc) install(n *snapshot, re map[string]guestfs.Mount, swap int) (old *snapshot, drop bool) {
	old = s.cur
	n.remounts = re
	if swap == s.swapGen {
		s.swapPending = nil
	}
	s.cur, s.failed = n, time.Time{}
	s.curWatch, s.editFail = s.watchList(n.deps), nil
	if s.swapped != nil {
		s.swapped(n)
	}
	return old, s.refs[old] <= 0
}

// log tells the asking run's hook of ev, else the engine's.
func (s *snapSrc) log(hook func(seam.RetakeEvent), ev seam.RetakeEvent) {
	if hook == nil {
		hook = s.e.retaken
	}
	if hook != nil {
		hook(ev)
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
	if s.learn != nil {
		s.learn.stop()
	}
	for _, x := range open {
		x.close(context.Background(), s.e)
	}
}
