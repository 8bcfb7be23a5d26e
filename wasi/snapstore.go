package wasi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// A stored snapshot is reused by a later start only when nothing its init
// read has changed. Beside KEY.wasm and KEY.img (snapcache.go) each
// snapshot has KEY.deps, signed like them: when the init ran, and the
// fingerprint (type, size, modification and change times, inode) of
// every path it opened, looked up or listed on its read-only volumes,
// absent ones included (a module that appears later changes what an
// import finds). A start recomputes them and takes the snapshot again on
// any difference, on a missing or unsigned KEY.deps, and on an image
// older than snapshot_max_age (its hash secret would be too old).
//
// What the key already holds (snapshotKey) is not repeated here: the
// module's hash, the init's arguments and environment, the preload list,
// the memory limit and the volumes' guest and host paths. Writable
// volumes and the scratch folder never count: the init sees them empty.

// depsVersion changes when what KEY.deps holds does.
const depsVersion = 1

// maxInitReads bounds the paths recorded for one init; an init that
// looks at more is not stored (it is taken again at the next start).
const maxInitReads = 1 << 16

// snapDeps is KEY.deps.
type snapDeps struct {
	Version int       `json:"version"`
	Key     string    `json:"key"`
	Taken   time.Time `json:"taken"`
	Files   []depFile `json:"files"`
}

// depFile is one path the init looked at in the volume at guest path Dir.
type depFile struct {
	Dir  string `json:"dir"`
	Path string `json:"path"`
	Sig  string `json:"sig"` // fingerprint; "absent" when it did not resolve
}

// initReads records what an init looks at on its volumes.
type initReads struct {
	mu    sync.Mutex
	seen  map[[2]string]bool
	files []depFile
	over  bool // more than maxInitReads: not stored
}

// recordFS is a read-only volume as a snapshot's init sees it: each path
// the init names is fingerprinted the first time, before the call, so
// that a change during the init shows at the next start.
type recordFS struct {
	experimentalsys.FS
	dir  string
	root *os.Root
	r    *initReads
}

func (f *recordFS) note(p string) {
	name := rel(p)
	k := [2]string{f.dir, name}
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if f.r.seen[k] || f.r.over {
		return
	}
	if len(f.r.files) >= maxInitReads {
		f.r.over = true
		return
	}
	f.r.seen[k] = true
	f.r.files = append(f.r.files, depFile{Dir: f.dir, Path: name, Sig: fingerprint(f.root, name)})
}

// OpenFile implements experimentalsys.FS.
func (f *recordFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	f.note(p)
	return f.FS.OpenFile(p, flag, perm)
}

// Stat implements experimentalsys.FS.
func (f *recordFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	f.note(p)
	return f.FS.Stat(p)
}

// Lstat implements experimentalsys.FS.
func (f *recordFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	f.note(p)
	return f.FS.Lstat(p)
}

// Readlink implements experimentalsys.FS.
func (f *recordFS) Readlink(p string) (string, experimentalsys.Errno) {
	f.note(p)
	return f.FS.Readlink(p)
}

// fingerprint says what a start compares of the path name under root. The
// change time moves with every write and rename, which a copy that keeps
// modification times (cp -p, rsync -a) does not undo.
func fingerprint(root *os.Root, name string) string {
	fi, err := root.Stat(name)
	if err != nil {
		return "absent"
	}
	return fmt.Sprintf("%s %d %d%s", fi.Mode().Type(), fi.Size(), fi.ModTime().UnixNano(), statExtra(fi))
}

// recordReads returns in with each read-only volume the init sees
// wrapped to record what it looks at, and the record (empty when the init
// sees none).
func (e *Engine) recordReads(in snapInputs) (snapInputs, *initReads, error) {
	if !in.seesVolumes() {
		return in, &initReads{}, nil
	}
	r := &initReads{seen: map[[2]string]bool{}}
	dirs := make([]initDir, len(in.dirs))
	for i, d := range in.dirs {
		dirs[i] = d
		if d.fs == nil {
			continue
		}
		root, err := e.openRoot(d.host)
		if err != nil {
			return in, nil, fmt.Errorf("volume %s: %w", d.guest, err)
		}
		dirs[i].fs = &recordFS{FS: d.fs, dir: d.guest, root: root, r: r}
	}
	in.dirs = dirs
	return in, r, nil
}

func (e *Engine) depsPaths(key string) (deps, sig string) {
	return filepath.Join(e.cacheDir, "snapshots", key+".deps"), filepath.Join(e.cacheDir, "snapshots-sig", key+".deps")
}

// errStale is a stored snapshot that must be taken again.
var errStale = errors.New("stored snapshot is stale")

// readDeps returns the signed KEY.deps of key, checked against the
// volumes the init sees now.
func (e *Engine) readDeps(key string, in snapInputs) (*snapDeps, error) {
	path, sig := e.depsPaths(key)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := e.sealed.key.VerifyBytes(b, path, sig); err != nil {
		return nil, err
	}
	var d snapDeps
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if d.Version != depsVersion || d.Key != key {
		return nil, fmt.Errorf("%w: written for another key or version", errStale)
	}
	if age := time.Since(d.Taken); age >= e.snapMaxAge() || age < -time.Minute {
		return nil, fmt.Errorf("%w: taken %s ago, snapshot_max_age is %s", errStale, age.Round(time.Second), e.snapMaxAge())
	}
	roots := map[string]*os.Root{}
	for _, dir := range in.dirs {
		if dir.fs == nil {
			continue
		}
		root, err := e.openRoot(dir.host)
		if err != nil {
			return nil, err
		}
		roots[dir.guest] = root
	}
	for _, f := range d.Files {
		root := roots[f.Dir]
		if root == nil {
			return nil, fmt.Errorf("%w: volume %s is no longer seen by the init", errStale, f.Dir)
		}
		if fingerprint(root, f.Path) != f.Sig {
			return nil, fmt.Errorf("%w: %s changed", errStale, filepath.Join(f.Dir, f.Path))
		}
	}
	return &d, nil
}

// loadStored returns the snapshot of key stored by an earlier start when
// nothing its init read has changed, or nil (a miss: the caller takes it).
func (m *Module) loadStored(key string, in snapInputs) *snapshot {
	e := m.engine
	if e.sealed == nil || in.fresh {
		return nil
	}
	d, err := e.readDeps(key, in)
	if err != nil {
		return nil
	}
	s := e.loadSnapshot(m.rt, key, m)
	if s == nil {
		return nil
	}
	s.taken = d.Taken
	return s
}

// storeSnapshot stores a snapshot taken at taken with what its init read;
// failing to is not an error (the next start takes it again).
func (m *Module) storeSnapshot(key string, wasm, mem []byte, r *initReads, taken time.Time) {
	e := m.engine
	if e.sealed == nil {
		return
	}
	path, sig := e.depsPaths(key)
	// Gone first: a start that finds the new image with the old KEY.deps
	// (this one stopped half-way) must not use it.
	_ = os.Remove(path)
	if r == nil || r.over {
		return
	}
	r.mu.Lock()
	files := append([]depFile(nil), r.files...)
	r.mu.Unlock()
	sort.Slice(files, func(i, j int) bool {
		if files[i].Dir != files[j].Dir {
			return files[i].Dir < files[j].Dir
		}
		return files[i].Path < files[j].Path
	})
	b, err := json.Marshal(snapDeps{Version: depsVersion, Key: key, Taken: taken, Files: files})
	if err != nil {
		return
	}
	e.saveSnapshot(key, wasm, mem, m)
	if _, err := os.Stat(filepath.Join(e.cacheDir, "snapshots", key+".img")); err != nil {
		return
	}
	if writeFile(path, b) != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(sig), 0o700); err == nil {
		_ = e.sealed.key.Sign(path, sig)
	}
}
