package wasi

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/snap"
	"github.com/wasigate/wasigate/wasi/seal"
)

// Learned preloads. An interpreter with no preload list learns one: each
// run reports the modules it imported beyond its snapshot's (a driver
// through the wasigate_learn import, Ruby through a capture of $stderr
// after the script; learnreport.go). The host keeps only names that come
// from the interpreter's read-only volumes (Config.LearnRoots; for Ruby,
// the standard library packed in ruby.wasm), never the scripts' own files
// nor a writable volume, and in the background, one at a time and once
// reports have been quiet for a moment, takes the snapshot again with them
// imported (snapsrc.go, the retake snapshot_max_age uses too). The old
// snapshot serves until the new one is ready; a name that fails to import
// in the new init is dropped. The list is kept in
// the cache folder, per interpreter (module and init inputs), so that a
// restart starts with it.
//
// A guest can report what it likes: the worst it can cause is that up to
// Config.LearnMax validated names of installed modules are imported in
// the init, as if an operator had listed them, and that up to
// learnTries*LearnMax names are tried per process.

// learnModuleName is the import module of learned preloads: wanted() ->
// i32 (1 when the host takes a report), report(ptr, len) -> errno
// ("name\tfile\n" lines) and failed(ptr, len) -> errno (a learned name
// that did not import in the init).
const learnModuleName = "wasigate_learn"

// learnEnv carries the learned list to a driver's init, apart from the
// operator's WASIGATE_PRELOAD: a name in it that fails is dropped, not
// fatal.
const learnEnv = "WASIGATE_PRELOAD_LEARNED"

// Learning's bounds.
const (
	// defaultLearnMax is Config.LearnMax when it is 0: names learned per
	// interpreter. Django's requests import about 450 modules from the
	// read-only volumes; the image cap bounds the memory whatever the count.
	defaultLearnMax = 1024
	// defaultLearnImageMax caps the image of a learned snapshot (and the
	// memory limit does too): past it the list stops growing.
	defaultLearnImageMax = 512 << 20
	// learnQuiet is how long reports must bring nothing new before a
	// retake starts.
	learnQuiet = time.Second
	// learnTries bounds, as a multiple of the list's bound, the names an
	// interpreter tries in this process, those its inits dropped or
	// refused included: a dropped name frees its place in the list, and
	// without this a tenant reporting new names that do not import would
	// cost the host a retake and memory for as long as it kept asking.
	learnTries = 2
)

// learner is the learned list of one interpreter snapshot's source.
type learner struct {
	src   *snapSrc
	ruby  bool
	file  string // where the list is kept; "" without a cache folder
	key   *seal.Key
	bad   error // the kept list was refused (learnkeep.go): told once
	roots []string
	max   int

	mu      sync.Mutex
	names   []string        // in the current snapshot, unless an age retake left them out
	known   map[string]bool // names, pending and refused: not learned again
	pending []string
	// trying: the names a retake under way adds (next hands them over; its
	// commit or refusal ends it), counted in the bound with the others.
	trying  int
	timer   *time.Timer
	full    bool
	stopped bool
}

// firstSnapshot takes (or loads) the keyed snapshot of in and makes the
// source of its retakes; a learning interpreter's init imports the list
// kept in the cache folder.
func (m *Module) firstSnapshot(limit uint64, in snap.Inputs, c Config) (*snapshot, *snapSrc, error) {
	var l *learner
	take := in
	if in.Learn {
		l = m.newLearner(in, c)
		take = withLearned(in, l.names, m.ruby() == nil)
	}
	s, err := m.takeSnapshot(limit, take)
	if err != nil {
		return nil, nil, err
	}
	src := newSnapSrc(m, limit, in, s)
	if l != nil {
		l.src, src.learn = src, l
		if l.bad != nil {
			src.log(c.Retaken, seam.RetakeEvent{Module: m.Name, Err: l.bad})
		}
	}
	if !in.App {
		src.setWatch(c.WatchInit)
	}
	return s, src, nil
}

// withLearned returns in with names as its learned list (for a driver,
// in its environment too).
func withLearned(in snap.Inputs, names []string, driver bool) snap.Inputs {
	out := in
	out.Learned = names
	if driver && len(names) > 0 {
		out.Env = append(slices.Clip(out.Env), learnEnv+"="+strings.Join(names, ","))
	}
	return out
}

// newLearner returns the learner of the interpreter whose init gets in,
// its list read from the cache folder.
func (m *Module) newLearner(in snap.Inputs, c Config) *learner {
	ruby := m.ruby() != nil
	l := &learner{ruby: ruby, roots: c.LearnRoots, max: c.LearnMax, known: map[string]bool{}}
	if l.max <= 0 {
		l.max = defaultLearnMax
	}
	if dir := m.engine.cacheDir; dir != "" {
		sum := sha256.Sum256([]byte("wasigate learned preloads v1\nmodule " + hex.EncodeToString(m.code.hash[:]) + "\n" + in.Key()))
		l.file = filepath.Join(dir, "learned", hex.EncodeToString(sum[:])+".json")
		l.key = m.engine.sealed.key
		l.names, l.bad = loadLearned(l.key, l.file, l.max, ruby)
		for _, n := range l.names {
			l.known[n] = true
		}
	}
	return l
}

// current is the list the current snapshot imports.
func (l *learner) current() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
}

// take learns the valid new names of a run's report and, once reports
// have been quiet for learnQuiet, asks its source for a retake. hook is
// the run's Config.Retaken.
func (l *learner) take(data []byte, prog *Program, hook func(seam.RetakeEvent)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Nothing more to learn: the report is not even read.
	if !l.open() {
		return
	}
	added := false
	for _, n := range parseReport(data, l.ruby, l.roots, prog.mounts, l.known) {
		if l.count() >= l.max || len(l.known) >= learnTries*l.max {
			break
		}
		l.known[n] = true
		l.pending = append(l.pending, n)
		added = true
	}
	if !added {
		return
	}
	l.src.mu.Lock()
	l.src.hook = hook
	l.src.mu.Unlock()
	l.arm()
}

// open: the list can still grow; l.mu is held.
func (l *learner) open() bool {
	return !l.stopped && !l.full && l.count() < l.max && len(l.known) < learnTries*l.max
}

// wants tells whether a run should report its imports: once the list
// cannot grow, runs are not asked to (the guest's report costs it time
// and memory, and memory it grew keeps its instance from being reused).
func (l *learner) wants() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open()
}

// count is the names of the list, those a retake is trying and those
// pending: what the bound counts; l.mu is held.
func (l *learner) count() int { return len(l.names) + l.trying + len(l.pending) }

// arm (re)starts the quiet timer; l.mu is held.
func (l *learner) arm() {
	if l.timer == nil {
		l.timer = time.AfterFunc(learnQuiet, l.src.learned)
	} else {
		l.timer.Reset(learnQuiet)
	}
}

// next is the list a retake's init imports and the names it adds.
func (l *learner) next() (list, added []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	added, l.pending = l.pending, nil
	l.trying = len(added)
	return append(slices.Clone(l.names), added...), added
}

// refused: a retake failed, or left the learned names out; its names stay
// known, not tried again in this process, and the list stops growing when
// the image was too large. It returns the names learned.
func (l *learner) refused(tooLarge bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.full = l.full || tooLarge
	l.trying = 0
	if len(l.pending) > 0 && !l.stopped {
		l.arm()
	}
	return len(l.names)
}

// commit makes list, less the dropped names, the current one and keeps
// it; it returns the names added and the total.
func (l *learner) commit(list, added, dropped []string) ([]string, int, error) {
	gone := func(n string) bool { return slices.Contains(dropped, n) }
	list = slices.DeleteFunc(list, gone)
	added = slices.DeleteFunc(added, gone)
	l.mu.Lock()
	l.names, l.trying = list, 0
	if len(l.pending) > 0 && !l.stopped {
		l.arm()
	}
	file := l.file
	l.mu.Unlock()
	if file == "" {
		return added, len(list), nil
	}
	return added, len(list), writeLearned(l.key, file, list)
}

// stop ends the learning of a closed source.
func (l *learner) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
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
	if len(f.names) < defaultLearnMax*4 {
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
