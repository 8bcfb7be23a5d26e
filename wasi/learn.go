package wasi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Learned preloads. An interpreter with no preload list learns one: each
// run reports the modules it imported beyond its snapshot's (a driver
// through the wasigate_learn import, Ruby through a capture of $stderr
// after the script; learnreport.go). The host keeps only names that come
// from the interpreter's read-only volumes (Config.LearnRoots; for Ruby,
// the standard library packed in ruby.wasm), never the scripts' own files
// nor a writable volume, and in the background, one at a time and once
// reports have been quiet for a moment, takes the snapshot again with them
// imported. The old snapshot serves until the new one is ready; a name
// that fails to import in the new init is dropped. The list is kept in
// the cache folder, per interpreter (module and init inputs), so that a
// restart starts with it.
//
// A guest can report what it likes: the worst it can cause is that up to
// Config.LearnMax validated names of installed modules are imported in
// the init, as if an operator had listed them.

// LearnModuleName is the import module of learned preloads: wanted() ->
// i32 (1 when the host takes a report), report(ptr, len) -> errno
// ("name\tfile\n" lines) and failed(ptr, len) -> errno (a learned name
// that did not import in the init).
const LearnModuleName = "wasigate_learn"

// LearnEnv carries the learned list to a driver's init, apart from the
// operator's WASIGATE_PRELOAD: a name in it that fails is dropped, not
// fatal.
const LearnEnv = "WASIGATE_PRELOAD_LEARNED"

// Learning's bounds.
const (
	// DefaultLearnMax is Config.LearnMax when it is 0: names learned per
	// interpreter.
	DefaultLearnMax = 256
	// DefaultLearnImageMax caps the image of a learned snapshot (and the
	// memory limit does too): past it the list stops growing.
	DefaultLearnImageMax = 512 << 20
	// learnQuiet is how long reports must bring nothing new before a
	// retake starts.
	learnQuiet = time.Second
)

// LearnEvent is what one retake did, for the log.
type LearnEvent struct {
	Added    []string      // names the new snapshot imports that the old did not
	Dropped  []string      // names whose import failed in the init
	Total    int           // names learned in all
	Image    uint64        // bytes of the new snapshot's image
	InitTime time.Duration // the new init's run
	Err      error         // the retake failed: the old snapshot serves on
}

// learnSlot lets one learned retake run at a time in the process: each
// runs an interpreter's init.
var learnSlot = make(chan struct{}, 1)

// learner is the learned list of one interpreter identity, shared by the
// programs bound to it.
type learner struct {
	m        *Module
	limit    uint64
	base     snapInputs // the init inputs without the learned names
	ruby     bool
	file     string // where the list is kept; "" without a cache folder
	roots    []string
	max      int
	imageMax uint64
	logged   func(LearnEvent)

	mu       sync.Mutex
	names    []string        // in the current snapshot
	known    map[string]bool // names, pending and refused: not learned again
	pending  []string
	timer    *time.Timer
	retaking bool
	full     bool
	closed   bool
	cur      *learnSnap
	live     map[*learnSnap]bool // learned snapshots not yet closed
}

// learnSnap is a snapshot programs start from and how many generations
// use it; owned: the learner's, closed when none does.
type learnSnap struct {
	snap  *snapshot
	refs  int
	owned bool
}

var (
	learnersMu sync.Mutex
	learners   = map[*Module]map[string]*learner{}
)

// learnInputs adds the interpreter's learned names to in (a program whose
// Config.Learn is set, before its snapshot is taken or found).
func (p *Program) learnInputs(in *snapInputs, c Config) {
	if !c.Learn || c.App || (p.ruby == nil && !p.module.isDriver()) {
		return
	}
	l := p.module.learnerFor(p.pool.limit, *in, c, p.ruby != nil)
	l.mu.Lock()
	names := slices.Clone(l.names)
	l.mu.Unlock()
	*in = in.withLearned(names, p.ruby == nil)
}

// withLearned returns in with names as its learned list (for a driver,
// in its environment too).
func (in snapInputs) withLearned(names []string, driver bool) snapInputs {
	if len(names) == 0 {
		return in
	}
	in.learned = names
	if driver {
		in.env = append(slices.Clip(in.env), LearnEnv+"="+strings.Join(names, ","))
	}
	return in
}

// learnerFor returns the learner of the interpreter whose init gets in,
// made (and its list read from the cache folder) the first time.
func (m *Module) learnerFor(limit uint64, in snapInputs, c Config, ruby bool) *learner {
	sum := sha256.Sum256([]byte("wasigate learned preloads v1\nmodule " + hex.EncodeToString(m.code.hash[:]) + "\n" + in.key()))
	id := hex.EncodeToString(sum[:])
	learnersMu.Lock()
	defer learnersMu.Unlock()
	if l := learners[m][id]; l != nil {
		return l
	}
	l := &learner{m: m, limit: limit, base: in, ruby: ruby, roots: c.LearnRoots, logged: c.Learned,
		max: c.LearnMax, imageMax: DefaultLearnImageMax, known: map[string]bool{}, live: map[*learnSnap]bool{}}
	if l.max <= 0 {
		l.max = DefaultLearnMax
	}
	if dir := m.engine.cacheDir; dir != "" {
		l.file = filepath.Join(dir, "learned", id+".json")
		l.names = readLearned(l.file, l.max, ruby)
		for _, n := range l.names {
			l.known[n] = true
		}
	}
	if learners[m] == nil {
		learners[m] = map[string]*learner{}
	}
	learners[m][id] = l
	return l
}

// learnedFile is the list as kept in the cache folder.
type learnedFile struct {
	Names []string `json:"names"`
}

// readLearned reads a kept list; a missing or corrupt file, or a name
// that is not one, is ignored.
func readLearned(file string, max int, ruby bool) []string {
	b, err := os.ReadFile(file)
	if err != nil || len(b) > 1<<20 {
		return nil
	}
	var f learnedFile
	if json.Unmarshal(b, &f) != nil {
		return nil
	}
	var names []string
	seen := map[string]bool{}
	for _, n := range f.Names {
		if len(names) < max && !seen[n] && validLearnName(n, ruby) {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

// writeLearned keeps the list, replacing the file whole.
func writeLearned(file string, names []string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(learnedFile{Names: names})
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// learnAttach follows a program's learner: the generation (a copy of the
// program started from one learned snapshot) its requests run.
type learnAttach struct {
	l   *learner
	c   Config
	mu  sync.Mutex
	gen *learnGen
}

type learnGen struct {
	prog *Program
	ls   *learnSnap
	runs int
	old  bool
}

// attachLearn makes p's runs report their imports and follow the
// learner's snapshots (a program with Config.Learn and a snapshot).
func (p *Program) attachLearn(c Config) {
	if !c.Learn || c.App || p.snap == nil || (p.ruby == nil && !p.module.isDriver()) {
		return
	}
	in := p.snapInputs(c)
	in.learned, in.env = nil, slices.DeleteFunc(slices.Clone(in.env), func(kv string) bool { return strings.HasPrefix(kv, LearnEnv+"=") })
	l := p.module.learnerFor(p.pool.limit, in, c, p.ruby != nil)
	l.mu.Lock()
	if l.cur == nil {
		l.cur = &learnSnap{snap: p.snap}
	}
	l.mu.Unlock()
	q := new(Program)
	*q = *p
	p.learn = &learnAttach{l: l, c: c, gen: &learnGen{prog: q, ls: &learnSnap{snap: p.snap}}}
}

// run is Program.Run of a learning program: the current generation runs
// the call, and what it reports is learned afterwards.
func (a *learnAttach) run(ctx context.Context, c *Call) error {
	g := a.enter()
	defer a.leave(g)
	rep := &learnReport{}
	ctx, cc := learnCall(context.WithValue(ctx, learnKey{}, rep), g.prog, c)
	err := g.prog.Run(ctx, cc)
	c.Instantiate = cc.Instantiate
	if rep.data != nil {
		a.l.take(rep.data, g.prog)
	}
	return err
}

// enter returns the generation to run, moving to the learner's current
// snapshot first if it changed.
func (a *learnAttach) enter() *learnGen {
	a.l.mu.Lock()
	cur := a.l.cur
	if cur.snap != a.snapNow() {
		cur.refs++
	} else {
		cur = nil
	}
	a.l.mu.Unlock()
	if cur != nil {
		a.switchTo(cur)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen.runs++
	return a.gen
}

func (a *learnAttach) snapNow() *snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen.ls.snap
}

// switchTo makes ls (held by the caller) the snapshot of the next runs.
func (a *learnAttach) switchTo(ls *learnSnap) {
	a.mu.Lock()
	old := a.gen
	if old.ls.snap == ls.snap || ls.snap.image.size > old.prog.pool.limit {
		a.mu.Unlock()
		a.l.release(ls)
		return
	}
	q := new(Program)
	*q = *old.prog
	q.warm, q.reuseReason = nil, ""
	q.startFrom(ls.snap)
	if q.module.bindCode(q) != nil {
		a.mu.Unlock()
		a.l.release(ls)
		return
	}
	q.setupReuse(a.c)
	a.gen = &learnGen{prog: q, ls: ls}
	old.old = true
	idle := old.runs == 0
	a.mu.Unlock()
	if idle {
		a.retire(old)
	}
}

func (a *learnAttach) leave(g *learnGen) {
	a.mu.Lock()
	g.runs--
	idle := g.old && g.runs == 0
	a.mu.Unlock()
	if idle {
		a.retire(g)
	}
}

// retire gives back what a replaced generation held.
func (a *learnAttach) retire(g *learnGen) {
	if g.prog.warm != nil {
		g.prog.warm.close(context.Background())
	}
	a.l.release(g.ls)
}

// release drops a generation's hold of ls; a learned snapshot no one
// uses and that is no longer current is closed.
func (l *learner) release(ls *learnSnap) {
	l.mu.Lock()
	ls.refs--
	drop := ls.owned && ls.refs <= 0 && ls != l.cur && l.live[ls]
	if drop {
		delete(l.live, ls)
	}
	l.mu.Unlock()
	if drop {
		ls.snap.close(context.Background(), l.m.engine)
	}
}

// take learns the valid new names of a run's report and schedules a
// retake when there is one.
func (l *learner) take(data []byte, prog *Program) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.full {
		return
	}
	added := false
	for _, n := range parseReport(data, l.ruby, l.roots, prog.mounts, l.known) {
		if len(l.names)+len(l.pending) >= l.max {
			break
		}
		l.known[n] = true
		l.pending = append(l.pending, n)
		added = true
	}
	if !added {
		return
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(learnQuiet, l.retake)
	} else if !l.retaking {
		l.timer.Reset(learnQuiet)
	}
}

// errLearnImage refuses a learned snapshot whose image is too large.
var errLearnImage = errors.New("the learned snapshot's image is larger than its cap")

// retake takes the snapshot again with the pending names, off every
// request's path.
func (l *learner) retake() {
	learnSlot <- struct{}{}
	defer func() { <-learnSlot }()
	l.mu.Lock()
	if l.closed || len(l.pending) == 0 {
		l.mu.Unlock()
		return
	}
	l.retaking = true
	added := l.pending
	l.pending = nil
	list := append(slices.Clone(l.names), added...)
	l.mu.Unlock()

	fails := &learnFailures{}
	in := l.base.withLearned(list, !l.ruby)
	in.learnFailed = fails
	s, err := l.m.takeSnapshot(l.limit, in)
	if err == nil && (s.image.size > l.imageMax || s.image.size > l.limit) {
		s.close(context.Background(), l.m.engine)
		err = fmt.Errorf("%w (%d bytes; cap %d)", errLearnImage, s.image.size, min(l.imageMax, l.limit))
	}
	dropped := fails.list()
	ev := LearnEvent{Dropped: dropped, Err: err}
	l.mu.Lock()
	l.retaking = false
	if err != nil {
		// The names stay known: they are not tried again in this process.
		l.full = l.full || errors.Is(err, errLearnImage)
		ev.Total = len(l.names)
		if len(l.pending) > 0 {
			l.timer.Reset(learnQuiet)
		}
		l.mu.Unlock()
		l.log(ev)
		return
	}
	if l.closed {
		l.mu.Unlock()
		s.close(context.Background(), l.m.engine)
		return
	}
	list = slices.DeleteFunc(list, func(n string) bool { return slices.Contains(dropped, n) })
	ev.Added = slices.DeleteFunc(added, func(n string) bool { return slices.Contains(dropped, n) })
	old := l.cur
	l.cur = &learnSnap{snap: s, owned: true}
	l.live[l.cur] = true
	l.names = list
	ev.Total, ev.Image, ev.InitTime = len(list), s.info.Image, s.info.InitTime
	drop := old.owned && old.refs <= 0 && l.live[old]
	if drop {
		delete(l.live, old)
	}
	if len(l.pending) > 0 {
		l.timer.Reset(learnQuiet)
	}
	file := l.file
	l.mu.Unlock()
	if drop {
		old.snap.close(context.Background(), l.m.engine)
	}
	if file != "" {
		if werr := writeLearned(file, list); werr != nil {
			ev.Err = fmt.Errorf("keep the learned list: %w", werr)
		}
	}
	l.log(ev)
}

func (l *learner) log(ev LearnEvent) {
	if l.logged != nil {
		l.logged(ev)
	}
}

// closeLearners closes the learned snapshots of m (being closed: no
// program of it runs).
func (m *Module) closeLearners(ctx context.Context) {
	learnersMu.Lock()
	ls := learners[m]
	delete(learners, m)
	learnersMu.Unlock()
	for _, l := range ls {
		l.mu.Lock()
		l.closed = true
		if l.timer != nil {
			l.timer.Stop()
		}
		live := l.live
		l.live = map[*learnSnap]bool{}
		l.mu.Unlock()
		for s := range live {
			s.snap.close(ctx, m.engine)
		}
	}
}

// learnFailures collects the learned names a retake's init could not
// import.
type learnFailures struct {
	mu    sync.Mutex
	names []string
}

func (f *learnFailures) add(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.names) < DefaultLearnMax*4 {
		f.names = append(f.names, name)
	}
}

func (f *learnFailures) list() []string {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.names)
}
