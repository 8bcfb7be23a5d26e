package hostlock

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
)

// Errno is a WASI preview 1 errno, what the guest's fcntl sets errno to.
type Errno uint32

// The errnos a lock call returns, with WASI's numbers.
const (
	OK           Errno = 0
	EACCES       Errno = 2
	EAGAIN       Errno = 6 // the lock is held by someone else
	EBADF        Errno = 8
	EFAULT       Errno = 21
	EINVAL       Errno = 28
	EIO          Errno = 29
	EMFILE       Errno = 33
	ENAMETOOLONG Errno = 37
	ENOENT       Errno = 44
	ENOLCK       Errno = 46
	ENOTSUP      Errno = 58
	EPERM        Errno = 63
)

// Type is a lock type, with the values of the guest's F_RDLCK, F_WRLCK
// and F_UNLCK (wasi_shim.h in samples/python).
type Type int32

const (
	Read   Type = 0
	Write  Type = 1
	Unlock Type = 2
)

// MaxPath is the longest guest path a lock call takes.
const MaxPath = 4096

// Mount is a volume as the lock table sees it: its guest path and the
// os.Root of its host folder.
type Mount struct {
	Guest    string
	Root     *os.Root
	Writable bool
}

// Table is one instance's locks: the host files it locked, by guest path.
// Its methods are safe for concurrent use; Close ends it.
type Table struct {
	mu     sync.Mutex
	mounts []Mount
	max    int
	paths  map[string]*os.File // guest path -> host file
	files  []*os.File          // distinct host files
	closed bool
}

// New returns a table over mounts that holds at most max host files and
// paths (max <= 0: no cap).
func New(mounts []Mount, max int) *Table {
	return &Table{mounts: mounts, max: max, paths: map[string]*os.File{}}
}

// Files is the number of host files the table holds open.
func (t *Table) Files() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.files)
}

// Close releases every lock of the table by closing its host files. Later
// calls return ENOLCK.
func (t *Table) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, f := range t.files {
		f.Close()
	}
	t.files, t.paths = nil, nil
}

// Set sets (Read, Write) or releases (Unlock) the lock of typ on the
// length bytes from start (0: to the end of the file, and beyond) of the
// file at the guest path p, without waiting: EAGAIN when another
// descriptor holds a conflicting lock.
func (t *Table) Set(p string, typ Type, start, length int64) Errno {
	if e := checkRange(typ, start, length); e != OK {
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ENOLCK
	}
	if typ == Unlock && t.paths[path.Clean(p)] == nil {
		return OK // nothing of it is locked: no need to open it
	}
	f, e := t.file(p)
	if e != OK {
		return e
	}
	return setLock(f, typ, start, length)
}

// Get reports the type of a lock another descriptor holds that would
// conflict with typ on the range, or Unlock when there is none (fcntl's
// F_GETLK).
func (t *Table) Get(p string, typ Type, start, length int64) (Type, Errno) {
	if typ == Unlock {
		return 0, EINVAL
	}
	if e := checkRange(typ, start, length); e != OK {
		return 0, e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, ENOLCK
	}
	f, e := t.file(p)
	if e != OK {
		return 0, e
	}
	return getLock(f, typ, start, length)
}

func checkRange(typ Type, start, length int64) Errno {
	if typ != Read && typ != Write && typ != Unlock {
		return EINVAL
	}
	if start < 0 || length < 0 || start > (1<<63-1)-length {
		return EINVAL
	}
	return OK
}

// file returns the host file at the guest path p, opening it the first
// time. Two paths of one file (through a link) share its descriptor, so
// that the instance's locks on it are one owner's, as a process's are.
func (t *Table) file(p string) (*os.File, Errno) {
	if len(p) > MaxPath {
		return nil, ENAMETOOLONG
	}
	if !strings.HasPrefix(p, "/") {
		return nil, EINVAL
	}
	p = path.Clean(p)
	if f := t.paths[p]; f != nil {
		return f, OK
	}
	if t.max > 0 && (len(t.paths) >= t.max || len(t.files) >= t.max) {
		return nil, EMFILE
	}
	m, rel, ok := t.resolve(p)
	if !ok {
		return nil, ENOENT
	}
	f, e := open(m, rel)
	if e != OK {
		return nil, e
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, EIO
		}
		return nil, EINVAL
	}
	for _, g := range t.files {
		if gst, err := g.Stat(); err == nil && os.SameFile(st, gst) {
			f.Close()
			t.paths[p] = g
			return g, OK
		}
	}
	t.files = append(t.files, f)
	t.paths[p] = f
	return f, OK
}

// resolve finds the mount of the cleaned guest path p, the deepest one
// when volumes are nested, and p relative to it.
func (t *Table) resolve(p string) (Mount, string, bool) {
	best, rel, found := Mount{}, "", false
	for _, m := range t.mounts {
		g := path.Clean("/" + m.Guest)
		var r string
		switch {
		case p == g:
			r = "."
		case g == "/":
			r = p[1:]
		case strings.HasPrefix(p, g+"/"):
			r = p[len(g)+1:]
		default:
			continue
		}
		if !found || len(g) > len(path.Clean("/"+best.Guest)) {
			best, rel, found = m, r, true
		}
	}
	return best, rel, found
}

// open opens the file read-write on a writable volume (read-only when its
// mode allows no more), read-only on a read-only one: a write lock needs
// a descriptor open for writing, so a guest can take one only where it
// may write. O_NONBLOCK: opening a FIFO must not wait for a writer.
func open(m Mount, rel string) (*os.File, Errno) {
	flag := os.O_RDONLY
	if m.Writable {
		flag = os.O_RDWR
	}
	f, err := m.Root.OpenFile(rel, flag|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil && m.Writable && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		f, err = m.Root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	}
	if err == nil {
		return f, OK
	}
	var se syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ENOENT
	case errors.Is(err, fs.ErrPermission):
		return nil, EACCES
	case errors.Is(err, syscall.EISDIR):
		return nil, EINVAL // only regular files are locked
	case errors.As(err, &se):
		return nil, EIO
	default: // os.Root's own refusal: the path leaves the volume
		return nil, EPERM
	}
}
