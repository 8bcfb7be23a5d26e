package wasi

import (
	"context"
	"errors"
	"os"
	"path"
	"slices"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// Edit, refresh, see. A driver's init may import files of a folder the
// server keeps serving from (a scripts folder's helper module, through a
// preload and PYTHONPATH): its snapshot holds what they said when it was
// taken. Config.WatchInit names such folders; of what the init read there
// (snap.Dep: each path it opened, looked up or found absent; folders, whose
// listing changes with every new file, are left out) each Refresh compares
// the fingerprint (type, size, modification and change times, inode), a
// stat per file. On a difference the request waits while the snapshot is
// taken again, as a WSGI application's load does:
//
//   - one retake per change, whatever the number of requests waiting, in
//     one of the build slots of the route's tenant (Config.BuildSlots),
//     bounded by snapshot_init_timeout; a request whose context ends first
//     gets that error, the retake goes on. Not the engine's retake slot,
//     which the background retakes (age, learned) of every tenant share:
//     a request waits for this one, and a tenant editing in a loop would
//     make other tenants' requests wait behind its inits, on CPU not
//     counted as its own;
//   - at least editInterval between the end of one retake for an edit and
//     the start of the next, a request seeing an edit sooner waiting for
//     it (within its timeout): touching a file and asking, over and over,
//     costs at most one init per interval;
//   - it succeeds: the new snapshot serves this request and the next ones
//     (each program moves to it, as after an age retake);
//   - it fails: Refresh returns an *EditError naming the changed files,
//     and so does each later Refresh until one of the files either init
//     read changes again. The old snapshot never serves an edited file.
//
// Ruby's init sees empty folders (rubysnap.go): nothing to watch.

// watchFile is one file an init read under a watched folder.
type watchFile struct {
	root  *os.Root
	guest string // its guest path, for messages
	dep   snap.Dep
}

// editFlight is a retake for an edit under way.
type editFlight struct {
	done chan struct{}
	err  error
}

// editFailure is the error of the last retake for an edit, and what tells
// a fix: the files both inits read, with their fingerprints before it ran.
type editFailure struct {
	files  []watchFile
	err    error
	edited []string  // the files whose edit it was taken for
	at     time.Time // when it failed: tried again editRetry later
}

// editRetry is how long a failed retake for an edit answers before it is
// tried again with no file changed: a failure not the files' (the init
// stopped at its timeout on a host loaded by others, memory short) must
// not hold the route at 500 until its owner edits again, and a file that
// stays broken costs one init per interval.
var editRetry = time.Minute

// editInterval is the least time between two retakes of one snapshot for
// edits: a saved file is seen within it, and a touch loop gets no more
// inits than one per interval.
var editInterval = time.Second

// watchList returns what of deps lies in a watched folder.
func (s *snapSrc) watchList(deps []snap.Dep) []watchFile {
	if len(s.watch) == 0 {
		return nil
	}
	var out []watchFile
	for _, d := range deps {
		root := s.watchRoots[d.Dir]
		if root == nil || d.IsDir() {
			continue
		}
		out = append(out, watchFile{root: root, guest: path.Join(d.Dir, d.Path), dep: d})
	}
	return out
}

// setWatch makes the source watch the guest folders dirs (of its init's
// read-only volumes) for edits.
func (s *snapSrc) setWatch(dirs []string) {
	for _, d := range s.base.Dirs {
		if d.FS == nil || !slices.Contains(dirs, d.Guest) {
			continue
		}
		st, err := os.Stat(d.Host)
		if err != nil {
			continue // gone: its files look absent to the init too
		}
		root, err := s.e.roots.Open(d.Host)
		if err != nil {
			continue
		}
		if s.watchRoots == nil {
			s.watchRoots, s.watchDirs = map[string]*os.Root{}, map[string]watchDir{}
		}
		s.watchRoots[d.Guest] = root
		s.watchDirs[d.Guest] = watchDir{host: d.Host, info: st}
		s.watch = append(s.watch, d.Guest)
	}
	s.curWatch = s.watchList(s.cur.deps)
}

// changed returns the guest paths of the files whose fingerprint is no
// longer the one recorded.
func changed(files []watchFile) []string {
	var out []string
	for _, f := range files {
		if snap.Fingerprint(f.root, f.dep.Path) != f.dep.Sig {
			out = append(out, f.guest)
		}
	}
	return out
}

// now returns files with their fingerprints as they are.
func now(files []watchFile) []watchFile {
	out := slices.Clone(files)
	for i := range out {
		out[i].dep.Sig = snap.Fingerprint(out[i].root, out[i].dep.Path)
	}
	return out
}

// refresh takes the snapshot again when a file its init read under a
// watched folder changed, and waits for it; hook and slots are the asking
// run's Config.Retaken and Config.BuildSlots.
func (s *snapSrc) refresh(ctx context.Context, hook func(seam.RetakeEvent), slots chan struct{}) error {
	for {
		if len(s.watch) == 0 {
			return nil
		}
		swapped := s.followSwaps()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil
		}
		files, fail, fl, gen, last := s.curWatch, s.editFail, s.editFlight, s.editGen, s.editEnded
		s.mu.Unlock()
		var edited []string
		if fl == nil {
			if fail != nil {
				files = fail.files
			}
			edited = changed(files)
			for _, g := range swapped {
				if !slices.Contains(edited, g) {
					edited = append(edited, g)
				}
			}
			if len(edited) == 0 {
				if fail == nil {
					return nil
				}
				if time.Since(fail.at) < editRetry {
					return fail.err
				}
				edited = fail.edited
			}
			if wait := editInterval - time.Since(last); !last.IsZero() && wait > 0 {
				if err := waitCtx(ctx, wait); err != nil {
					return err
				}
				continue // look again: another request may have started it
			}
			s.mu.Lock()
			if s.editGen != gen || s.editFlight != nil {
				s.mu.Unlock()
				continue // another request saw it first: look again
			}
			// Part of the engine's background, which Close stops and waits
			// for: an init after it would run on a closed runtime.
			if !s.e.bg.start() {
				s.mu.Unlock()
				return errEngineClosing
			}
			fl = &editFlight{done: make(chan struct{})}
			s.editFlight = fl
			s.mu.Unlock()
			// Detached from the request: the others wait for the same one.
			go func() {
				defer s.e.bg.done()
				s.retakeEdited(fl, edited, now(files), hook, slots)
			}()
		}
		select {
		case <-fl.done:
			return fl.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitCtx waits d, or until ctx ends (its error).
func waitCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// editSlot takes one of the tenant's build slots (slots; nil: the
// engine's retake slot) and returns its release, or false when the
// engine closed first.
func (s *snapSrc) editSlot(slots chan struct{}) (func(), bool) {
	if slots == nil {
		s.e.retakes.acquire()
		if s.e.bg.ctx.Err() != nil {
			s.e.retakes.release()
			return nil, false
		}
		return s.e.retakes.release, true
	}
	select {
	case slots <- struct{}{}:
		if s.e.bg.ctx.Err() != nil {
			<-slots
			return nil, false
		}
		return func() { <-slots }, true
	case <-s.e.bg.ctx.Done():
		return nil, false
	}
}

// retakeEdited takes the snapshot again for the edit of the files
// edited, in one of slots; before are the watched files with their
// fingerprints before the init ran.
func (s *snapSrc) retakeEdited(fl *editFlight, edited []string, before []watchFile, hook func(seam.RetakeEvent), slots chan struct{}) {
	var (
		n    *snapshot
		deps []snap.Dep
		err  = errEngineClosing // closed while it waited for the slot
	)
	s.mu.Lock()
	in, re, swap := s.base, s.remounts, s.swapGen
	s.mu.Unlock()
	if release, ok := s.editSlot(slots); ok {
		if l := s.learn; l != nil {
			in = withLearned(in, l.current(), s.m.ruby() == nil)
			in.LearnFailed = func(string) {} // dropped from this one; the learner keeps it
		}
		n, deps, err = s.m.takeSnapshotDeps(s.limit, in)
		release()
	}
	if err == nil && n.image.Size() > s.limit {
		n.close(context.Background(), s.e)
		err = errEditImage
	}
	ev := seam.RetakeEvent{Module: s.m.Name, Reasons: []string{seam.RetakeEdited}, Edited: edited}
	s.mu.Lock()
	s.editFlight = nil
	s.editGen++
	s.editEnded = time.Now()
	if err != nil {
		fl.err = &EditError{Files: edited, Err: err}
		s.editFail = &editFailure{files: merge(s.watchList(deps), before), err: fl.err, edited: edited, at: time.Now()}
		s.mu.Unlock()
		close(fl.done)
		ev.Err = fl.err
		s.log(hook, ev)
		return
	}
	if s.closed {
		s.mu.Unlock()
		close(fl.done)
		n.close(context.Background(), s.e)
		return
	}
	old, drop := s.install(n, re, swap)
	s.mu.Unlock()
	close(fl.done)
	if drop {
		old.close(context.Background(), s.e)
	}
	ev.Image, ev.Init = n.info.Image, n.info.InitTime
	s.log(hook, ev)
}

// merge returns the files of a, then those of b a lacks.
func merge(a, b []watchFile) []watchFile {
	out := slices.Clip(a)
	for _, f := range b {
		if !slices.ContainsFunc(a, func(g watchFile) bool { return g.guest == f.guest }) {
			out = append(out, f)
		}
	}
	return out
}

// errEngineClosing is the error of a request that finds an edit while
// the engine is closing: no snapshot is taken any more.
var errEngineClosing = errors.New("the engine is closing: no snapshot is taken for the edit")

// errEditImage refuses a snapshot taken for an edit whose image is larger
// than the memory limit.
var errEditImage = errors.New("the new snapshot's image is larger than the memory limit")

// Refresh implements seam.Refresher: it takes the snapshot of p's
// interpreter again when a file its init read under Config.WatchInit
// changed, and waits for it.
func (p *Program) Refresh(ctx context.Context) error {
	if p.fresh == nil {
		return nil
	}
	return p.fresh.src.refresh(ctx, p.fresh.c.Retaken, p.fresh.c.BuildSlots)
}
