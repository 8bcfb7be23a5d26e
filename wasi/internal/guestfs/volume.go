package guestfs

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// VolumeFS returns the file system of a volume confined to root (an
// os.Root that Roots shares between every instance mounting the folder).
// Read-only: os.Root through wazero's fs.FS adapter, which refuses every
// path that leaves the folder, including symbolic links inside it that
// point outside (wazero's own WithReadOnlyDirMount follows them). Either
// opens only regular files and folders (regularfile.go). Writable: rootFS
// below, for the same reason (wazero's WithDirMount would let a guest
// write through a link the operator left in the folder).
func VolumeFS(root *os.Root, writable bool) experimentalsys.FS {
	if writable {
		return &rootFS{root: root}
	}
	return newReadOnlyFS(root)
}

// rootFS is a writable experimental sys.FS confined to an os.Root.
type rootFS struct {
	experimentalsys.UnimplementedFS
	root *os.Root
}

var _ experimentalsys.FS = (*rootFS)(nil)

// rel turns the guest's path (relative to the mount, maybe with a leading
// slash) into a name os.Root takes. ".." is left for os.Root to refuse
// when it leaves the folder.
func rel(p string) string {
	p = path.Clean("/" + p)[1:]
	if p == "" {
		return "."
	}
	return p
}

// errno maps an error from os.Root to a WASI errno. An escape attempt
// (os.Root's own error, not a system call's) is EPERM.
func errno(err error) experimentalsys.Errno {
	if err == nil {
		return 0
	}
	var se syscall.Errno
	if errors.As(err, &se) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrInvalid) || errors.Is(err, fs.ErrClosed) {
		return experimentalsys.UnwrapOSError(err)
	}
	return experimentalsys.EPERM
}

func osFlag(f experimentalsys.Oflag) int {
	var o int
	switch f & (experimentalsys.O_RDONLY | experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		o = os.O_RDWR
	case experimentalsys.O_WRONLY:
		o = os.O_WRONLY
	default:
		o = os.O_RDONLY
	}
	for _, m := range []struct {
		w experimentalsys.Oflag
		o int
	}{
		{experimentalsys.O_APPEND, os.O_APPEND}, {experimentalsys.O_CREAT, os.O_CREATE},
		{experimentalsys.O_EXCL, os.O_EXCL}, {experimentalsys.O_TRUNC, os.O_TRUNC},
		{experimentalsys.O_SYNC, os.O_SYNC},
	} {
		if f&m.w != 0 {
			o |= m.o
		}
	}
	return o
}

// opener is the fs.FS wazero's adapter opens a file through: the first
// Open uses the guest's flags; later ones (wazero reopens a directory to
// rewind it) are read-only.
type opener struct {
	root  *os.Root
	flag  int
	perm  fs.FileMode
	first *os.File
	err   error // of the first Open
}

func (o *opener) Open(name string) (fs.File, error) {
	if o.first != nil {
		f, err := openPlain(o.root, name, os.O_RDONLY, 0)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return f, nil
	}
	f, err := openPlain(o.root, name, o.flag, o.perm)
	if err != nil {
		o.err = err
		return nil, err
	}
	o.first = f
	return f, nil
}

// OpenFile implements experimentalsys.FS.
func (r *rootFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	name := rel(p)
	if flag&experimentalsys.O_DIRECTORY != 0 {
		if flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR) != 0 {
			return nil, experimentalsys.EISDIR
		}
		st, err := r.root.Stat(name)
		if err != nil {
			return nil, errno(err)
		}
		if !st.IsDir() {
			return nil, experimentalsys.ENOTDIR
		}
	}
	o := &opener{root: r.root, flag: osFlag(flag), perm: perm}
	f, e := (&sysfs.AdaptFS{FS: o}).OpenFile(name, flag, perm)
	if o.err != nil {
		// The adapter would report os.Root's escape error as EIO.
		return nil, errno(o.err)
	}
	if e != 0 {
		return nil, e
	}
	return &rootFile{File: f, f: o.first}, 0
}

// rootFile adds what wazero's fs.FS adapter leaves unimplemented for a
// file that can be written.
type rootFile struct {
	experimentalsys.File
	f *os.File
}

func (f *rootFile) Truncate(size int64) experimentalsys.Errno {
	return experimentalsys.UnwrapOSError(f.f.Truncate(size))
}

func (f *rootFile) Sync() experimentalsys.Errno { return experimentalsys.UnwrapOSError(f.f.Sync()) }

func (f *rootFile) Datasync() experimentalsys.Errno { return f.Sync() }

func (r *rootFS) stat(p string, follow bool) (sys.Stat_t, experimentalsys.Errno) {
	var st fs.FileInfo
	var err error
	if follow {
		st, err = r.root.Stat(rel(p))
	} else {
		st, err = r.root.Lstat(rel(p))
	}
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(st), 0
}

// Lstat implements experimentalsys.FS.
func (r *rootFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) { return r.stat(p, false) }

// Stat implements experimentalsys.FS.
func (r *rootFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) { return r.stat(p, true) }

// Mkdir implements experimentalsys.FS.
func (r *rootFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	e := errno(r.root.Mkdir(rel(p), perm))
	if e == experimentalsys.ENOTDIR {
		e = experimentalsys.ENOENT // as wazero's own DirFS
	}
	return e
}

// Chmod implements experimentalsys.FS.
func (r *rootFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	return errno(r.root.Chmod(rel(p), perm))
}

// Rename implements experimentalsys.FS.
func (r *rootFS) Rename(from, to string) experimentalsys.Errno {
	return errno(r.root.Rename(rel(from), rel(to)))
}

// Rmdir implements experimentalsys.FS.
func (r *rootFS) Rmdir(p string) experimentalsys.Errno {
	st, err := r.root.Lstat(rel(p))
	if err != nil {
		return errno(err)
	}
	if !st.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return errno(r.root.Remove(rel(p)))
}

// Unlink implements experimentalsys.FS.
func (r *rootFS) Unlink(p string) experimentalsys.Errno {
	st, err := r.root.Lstat(rel(p))
	if err != nil {
		return errno(err)
	}
	if st.IsDir() {
		return experimentalsys.EISDIR
	}
	return errno(r.root.Remove(rel(p)))
}

// Link implements experimentalsys.FS.
func (r *rootFS) Link(oldPath, newPath string) experimentalsys.Errno {
	return errno(r.root.Link(rel(oldPath), rel(newPath)))
}

// Symlink implements experimentalsys.FS. A guest may not create symbolic
// links at all. A link's text says little about where it leads:
// with "A -> ." in place, "L -> A/A/A/A/A/A/../../../../../.." reads as
// harmless but resolves to the host's "/". os.Root never follows it for
// the guest, but backups and web servers on the host would. Resolving the
// target when the link is made would not be enough either: renaming the
// link or replacing a link it goes through changes where it leads later.
func (r *rootFS) Symlink(target, link string) experimentalsys.Errno {
	return experimentalsys.EPERM
}

// Readlink implements experimentalsys.FS.
func (r *rootFS) Readlink(p string) (string, experimentalsys.Errno) {
	s, err := r.root.Readlink(rel(p))
	return s, errno(err)
}

// Utimens implements experimentalsys.FS.
func (r *rootFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	if atim == experimentalsys.UTIME_OMIT || mtim == experimentalsys.UTIME_OMIT {
		st, e := r.stat(p, true)
		if e != 0 {
			return e
		}
		if atim == experimentalsys.UTIME_OMIT {
			atim = st.Atim
		}
		if mtim == experimentalsys.UTIME_OMIT {
			mtim = st.Mtim
		}
	}
	return errno(r.root.Chtimes(rel(p), time.Unix(0, atim), time.Unix(0, mtim)))
}
