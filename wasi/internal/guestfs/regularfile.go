package guestfs

import (
	"io/fs"
	"os"
	"syscall"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// A guest opens only regular files and folders in its volumes. open(2) of
// a FIFO waits in the kernel until the other end is opened: no deadline
// reaches a guest blocked there, so the request held its thread and its
// slot past the route's timeout, for good (64 such requests left a route
// answering 503 until restart). Opening a device can act on it (a tape
// rewinds, a terminal becomes the controlling one). So the type is read
// first without opening, the open never blocks (O_NONBLOCK, O_NOCTTY),
// and the descriptor's own type is checked again, for a name replaced in
// between. The guest gets EACCES, as for a file it may not read.

// openPlain opens name in root with flag if it is a regular file or a
// folder, or is created by this open.
func openPlain(root *os.Root, name string, flag int, perm fs.FileMode) (*os.File, error) {
	if st, err := root.Stat(name); err == nil && !plain(st.Mode()) {
		return nil, notPlain(name)
	}
	f, err := root.OpenFile(name, flag|syscall.O_NONBLOCK|syscall.O_NOCTTY, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !plain(st.Mode()) {
		err = notPlain(name)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func plain(m fs.FileMode) bool { return m.IsRegular() || m.IsDir() }

// notPlain is the error of a FIFO, device or socket; wazero's adapter
// passes a PathError's errno on to the guest.
func notPlain(name string) error {
	return &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
}

// plainFS is the fs.FS of a read-only volume: os.Root's, opening through
// openPlain.
type plainFS struct{ root *os.Root }

func (p plainFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := openPlain(p.root, name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return f, nil
}

// readOnlyFS is a read-only volume's file system: wazero's fs.FS adapter
// over plainFS, whose Stat would open the file; a FIFO is stat'ed without
// being opened, so that listing a folder that holds one neither blocks nor
// fails. Like the adapter, Lstat follows links (a guest sees none).
type readOnlyFS struct {
	*sysfs.AdaptFS
	root *os.Root
}

func newReadOnlyFS(root *os.Root) *readOnlyFS {
	return &readOnlyFS{AdaptFS: &sysfs.AdaptFS{FS: plainFS{root: root}}, root: root}
}

// Stat implements experimentalsys.FS.
func (r *readOnlyFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	st, err := r.root.Stat(rel(p))
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(st), 0
}

// Lstat implements experimentalsys.FS.
func (r *readOnlyFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) { return r.Stat(p) }
