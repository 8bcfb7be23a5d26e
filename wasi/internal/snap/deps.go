package snap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// A stored snapshot is reused by a later start only when nothing its init
// read has changed. Beside KEY.wasm and KEY.img each snapshot has
// KEY.deps, signed like them: when the init ran, and the fingerprint
// (type, size, modification and change times, inode) of every path it
// opened, looked up or listed on its read-only volumes, absent ones
// included (a module that appears later changes what an import finds). A
// start recomputes them and takes the snapshot again on any difference,
// on a missing or unsigned KEY.deps, and on an image older than
// snapshot_max_age (its hash secret would be too old). KEY.deps also
// holds the SHA-256 of KEY.wasm and KEY.img: their signatures cover
// their bytes, not their key, so without it another key's pair (another
// tenant's init), or a pair two starts wrote at once, would load here.
//
// What the key already holds is not repeated here: the module's hash, the
// init's arguments and environment, the preload lists, the memory limit
// and the volumes' guest and host paths. Writable volumes and the scratch
// folder never count: the init sees them empty.

// depsVersion changes when what KEY.deps holds does.
const depsVersion = 2

// maxInitReads bounds the paths recorded for one init; an init that
// looks at more is not stored (it is taken again at the next start).
const maxInitReads = 1 << 16

// ErrStale is a stored snapshot that must be taken again.
var ErrStale = errors.New("stored snapshot is stale")

// deps is KEY.deps.
type deps struct {
	Version int       `json:"version"`
	Key     string    `json:"key"`
	Taken   time.Time `json:"taken"`
	Files   []Dep     `json:"files"`
	Wasm    string    `json:"wasm"`  // SHA-256 of KEY.wasm
	Image   string    `json:"image"` // SHA-256 of KEY.img
}

// Stored is what KEY.deps says of a stored snapshot still fresh.
type Stored struct {
	Taken       time.Time
	Files       []Dep // what its init looked at
	wasm, image string
}

// Holds: wasm and mem are the module and image KEY.deps was written for.
func (st Stored) Holds(wasm, mem []byte) bool {
	return st.wasm != "" && SHA256Hex(wasm) == st.wasm && SHA256Hex(mem) == st.image
}

// Dep is one path the init looked at in the volume at guest path Dir.
// Besides telling a later start whether the snapshot can be loaded, the
// Deps under a watched folder say whether a running server must take the
// snapshot again (wasi/snapedit.go).
type Dep struct {
	Dir  string `json:"dir"`
	Path string `json:"path"`
	Sig  string `json:"sig"` // fingerprint; "absent" when it did not resolve
}

// Reads records what an init looks at on its read-only volumes.
type Reads struct {
	mu    sync.Mutex
	seen  map[[2]string]bool
	files []Dep
	over  bool // more than maxInitReads: not stored
}

// recordFS is a read-only volume as a snapshot's init sees it: each path
// the init names is fingerprinted the first time, before the call, so
// that a change during the init shows at the next start.
type recordFS struct {
	experimentalsys.FS
	dir  string
	root *os.Root
	r    *Reads
}

func (f *recordFS) note(p string) {
	name := path.Clean("/" + p)[1:]
	if name == "" {
		name = "."
	}
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
	f.r.files = append(f.r.files, Dep{Dir: f.dir, Path: name, Sig: Fingerprint(f.root, name)})
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

// Fingerprint says what a start compares of the path name under root. The
// change time moves with every write and rename, which a copy that keeps
// modification times (cp -p, rsync -a) does not undo.
func Fingerprint(root *os.Root, name string) string {
	fi, err := root.Stat(name)
	if err != nil {
		return "absent"
	}
	return fmt.Sprintf("%s %d %d%s", fi.Mode().Type(), fi.Size(), fi.ModTime().UnixNano(), statExtra(fi))
}

// IsDir: the path was a folder when the init looked at it.
func (d Dep) IsDir() bool { return strings.HasPrefix(d.Sig, "d") }

// Deps returns what the init looked at so far, nil when it looked at more
// than the record holds.
func (r *Reads) Deps() []Dep {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over {
		return nil
	}
	return append([]Dep(nil), r.files...)
}

// Record returns in with each read-only volume the init sees wrapped to
// record what it looks at, and the record (empty when the init sees
// none). open gives the os.Root of a volume's host folder.
func Record(in Inputs, open func(host string) (*os.Root, error)) (Inputs, *Reads, error) {
	if !in.SeesVolumes() {
		return in, &Reads{}, nil
	}
	r := &Reads{seen: map[[2]string]bool{}}
	dirs := make([]InitDir, len(in.Dirs))
	for i, d := range in.Dirs {
		dirs[i] = d
		if d.FS == nil {
			continue
		}
		root, err := open(d.Host)
		if err != nil {
			return in, nil, fmt.Errorf("volume %s: %w", d.Guest, err)
		}
		dirs[i].FS = &recordFS{FS: d.FS, dir: d.Guest, root: root, r: r}
	}
	in.Dirs = dirs
	return in, r, nil
}

func (s *Store) depsPaths(key string) (deps, sig string) {
	return filepath.Join(s.dir, "snapshots", key+".deps"), filepath.Join(s.dir, "snapshots-sig", key+".deps")
}

// Fresh returns when the snapshot of key stored with its KEY.deps was
// taken and the sums of its files, checked against its signature and the volumes the init of in
// sees now; an error (ErrStale among others) when it must be taken again,
// older than maxAge included.
func (s *Store) Fresh(key string, in Inputs, maxAge time.Duration, open func(host string) (*os.Root, error)) (Stored, error) {
	d, err := s.fresh(key, in, maxAge, open)
	if err != nil {
		return Stored{}, err
	}
	return Stored{Taken: d.Taken, Files: d.Files, wasm: d.Wasm, image: d.Image}, nil
}

func (s *Store) fresh(key string, in Inputs, maxAge time.Duration, open func(host string) (*os.Root, error)) (deps, error) {
	var d deps
	p, sig := s.depsPaths(key)
	b, err := os.ReadFile(p)
	if err != nil {
		return d, err
	}
	if err := s.key.VerifyBytes(b, p, sig); err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, err
	}
	if d.Version != depsVersion || d.Key != key {
		return d, fmt.Errorf("%w: written for another key or version", ErrStale)
	}
	if age := time.Since(d.Taken); age >= maxAge || age < -time.Minute {
		return d, fmt.Errorf("%w: taken %s ago, snapshot_max_age is %s", ErrStale, age.Round(time.Second), maxAge)
	}
	roots := map[string]*os.Root{}
	for _, dir := range in.Dirs {
		if dir.FS == nil {
			continue
		}
		root, err := open(dir.Host)
		if err != nil {
			return d, err
		}
		roots[dir.Guest] = root
	}
	for _, f := range d.Files {
		root := roots[f.Dir]
		if root == nil {
			return d, fmt.Errorf("%w: volume %s is no longer seen by the init", ErrStale, f.Dir)
		}
		if Fingerprint(root, f.Path) != f.Sig {
			return d, fmt.Errorf("%w: %s changed", ErrStale, filepath.Join(f.Dir, f.Path))
		}
	}
	return d, nil
}

// ForgetDeps deletes KEY.deps: a start that finds a new image with the old
// list (the writer stopped half-way) must not use it.
func (s *Store) ForgetDeps(key string) {
	p, _ := s.depsPaths(key)
	_ = os.Remove(p)
}

// SaveDeps writes and signs KEY.deps for the snapshot of key saved (Save)
// as wasm and mem and taken at taken, whose init read r; failing to is not an error (the
// next start takes it again).
func (s *Store) SaveDeps(key string, r *Reads, taken time.Time, wasm, mem []byte) {
	if r == nil || r.over {
		return
	}
	r.mu.Lock()
	files := append([]Dep(nil), r.files...)
	r.mu.Unlock()
	sort.Slice(files, func(i, j int) bool {
		if files[i].Dir != files[j].Dir {
			return files[i].Dir < files[j].Dir
		}
		return files[i].Path < files[j].Path
	})
	b, err := json.Marshal(deps{Version: depsVersion, Key: key, Taken: taken, Files: files, Wasm: SHA256Hex(wasm), Image: SHA256Hex(mem)})
	if err != nil {
		return
	}
	p, sig := s.depsPaths(key)
	if _, err := os.Stat(filepath.Join(s.dir, "snapshots", key+".img")); err != nil {
		return
	}
	if writeFile(p, b) != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(sig), 0o700); err == nil {
		_ = s.key.Sign(p, sig)
	}
}
