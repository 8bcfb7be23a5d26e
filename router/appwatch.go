package router

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
)

// Noticing an edit to a WSGI application. Its signature (appSig) is the
// size and modification time of every Python file of the scripts folder:
// what the application may have imported from it. Walking the folder and
// stating each file on every request cost 2.8-3.7% of the server's CPU in
// a profile, so where the kernel can tell of changes (inotify on Linux's
// local file systems) each folder the walk enters is watched, and a
// request walks again only when an event has come since the last walk;
// otherwise it pays one read of the event queue, which finds it empty.
//
// The queue is read on the request's path, not by a goroutine, so the
// answer is exact: the kernel queues the event within the write (or
// rename, or utimes) that changed the file, so a request that arrives
// after the edit finds it. The queue is drained before the walk and each
// folder is watched before it is read: an edit the walk misses comes
// after the watch, and its event makes the next request walk again.
// Where watching fails (no inotify, the watch limit reached, a network or
// FUSE file system whose other clients' writes bring no event) every
// request walks, as before.

// maxAppFiles bounds the files appSig looks at.
const maxAppFiles = 4096

// errTooManyFiles stops appSig's walk.
var errTooManyFiles = errors.New("too many files")

// maxWatchedDirs bounds the folders one application's watch holds: the
// inotify watch limit is the user's, shared with every other route, the
// configuration's watch and the user's other processes, and a writable
// volume under the scripts folder lets a guest make folders at will.
// Past it every request walks, as where watching fails.
const maxWatchedDirs = 1024

// errTooManyDirs: the folder has more subfolders than are watched.
var errTooManyDirs = errors.New("too many subfolders to watch")

// appWatch is the watch of one scripts folder and the signature its last
// walk found.
type appWatch struct {
	mu     sync.Mutex
	w      *dirWatcher // nil: not started, or given up (off)
	off    bool        // watching failed or the route was retired: walk
	sig    string      // the last walk's signature, while w is on
	reason sync.Once   // the fall-back to walking, logged once
}

// appSig is what must change for an application to be loaded again.
func (s *scriptsHandler) appSig() (string, error) {
	a := &s.wsgi.watch
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w == nil && !a.off {
		w, err := newDirWatcher()
		if err != nil {
			a.stop(s, err)
		} else {
			a.w = w
		}
	}
	if a.w != nil {
		changed, err := a.w.changed()
		if err != nil {
			a.stop(s, err)
		} else if !changed && a.sig != "" {
			return a.sig, nil
		}
	}
	a.sig = ""
	dirs := 0
	sig, err := s.walkSig(func(p string, dir bool) {
		if a.w == nil {
			return
		}
		add := a.w.addFile
		if dir {
			add = a.w.add
			if dirs++; dirs > maxWatchedDirs {
				a.stop(s, fmt.Errorf("%w: more than %d", errTooManyDirs, maxWatchedDirs))
				return
			}
		}
		if err := add(p); err != nil {
			a.stop(s, err)
		}
	})
	if err == nil && a.w != nil {
		a.sig = sig
	}
	return sig, err
}

// stop gives up watching: every request walks.
func (a *appWatch) stop(s *scriptsHandler, err error) {
	if a.w != nil {
		a.w.close()
		a.w = nil
	}
	a.off = true
	a.reason.Do(func() {
		s.log.Info().Err(err).Msg("WSGI applications: the scripts folder cannot be watched, so each request stats its Python files for edits (where a limit is the cause, raise sysctl fs.inotify.max_user_watches or max_user_instances)")
	})
}

// close ends the watch once the route is retired.
func (a *appWatch) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.w != nil {
		a.w.close()
		a.w = nil
	}
	a.off, a.sig = true, ""
}

// walkSig hashes the size and modification time of every Python file of
// the folder, skipping hidden entries and __pycache__; enter is called
// with each folder's path before it is read, and with each regular
// Python file's before it is stated: a write through a hard link from
// another folder brings no event to this folder's watch, only to the
// file's own.
func (s *scriptsHandler) walkSig(enter func(p string, dir bool)) (string, error) {
	h := fnv.New64a()
	n := 0
	err := fs.WalkDir(s.root.get().FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed during the walk: its absence is the signature
		}
		name := d.Name()
		if p != "." && (strings.HasPrefix(name, ".") || name == "__pycache__") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			enter(filepath.Join(s.dir, filepath.FromSlash(p)), true)
			return nil
		}
		if filepath.Ext(name) != pythonExt && filepath.Ext(name) != WSGIExt {
			return nil
		}
		if n++; n > maxAppFiles {
			s.wsgi.tooMany.Do(func() {
				s.log.Warn().Int("max", maxAppFiles).Msg("the scripts folder has more Python files than a WSGI application's reload check looks at: edits to the others are not noticed until one of the first ones changes")
			})
			return errTooManyFiles
		}
		if d.Type().IsRegular() {
			enter(filepath.Join(s.dir, filepath.FromSlash(p)), false)
		}
		st, err := d.Info()
		if err != nil {
			return nil
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", p, st.Size(), st.ModTime().UnixNano())
		return nil
	})
	if err != nil && !errors.Is(err, errTooManyFiles) {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum64()), nil
}
