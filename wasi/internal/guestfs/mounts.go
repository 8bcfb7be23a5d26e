package guestfs

import (
	"errors"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// Mount is a volume's file system at its guest path.
type Mount struct {
	Guest string
	FS    experimentalsys.FS
	// Host and Writable describe the volume, for a snapshot's init, which
	// sees read-only volumes only.
	Host     string
	Writable bool
	// Root is the folder's os.Root, where wasigate_lock finds the files a
	// guest locks; nil for a snapshot init's copy.
	Root *os.Root
}

// Config is the file system config of one call: every volume's file
// system counts its open files in one counter of the instance, so that the
// instance holds at most max (one guest opened 19,984 files and the
// process could no longer accept connections). The empty root folder is
// mounted last (rootfolder.go).
func Config(mounts []Mount, max int) (wazero.FSConfig, error) {
	return ConfigCount(mounts, NewCount(max))
}

// ConfigCount is Config counting in n.
func ConfigCount(mounts []Mount, n *Count) (wazero.FSConfig, error) {
	fsc := wazero.NewFSConfig()
	for _, m := range withRoot(mounts) {
		sfs, ok := fsc.(sysfs.FSConfig)
		if !ok {
			return nil, errors.New("wazero's FSConfig does not take a sys.FS")
		}
		// The empty root is counted too: it holds nothing of the host's,
		// but each folder the guest opens in it is an entry in wazero's
		// descriptor table until the instance ends (TestEmptyRootFilesCap).
		// Only its preopen, wazero's own open, takes no place in the cap.
		_, empty := m.FS.(emptyRoot)
		fsc = sfs.WithSysFSMount(&countedFS{FS: m.FS, n: n, freeRoot: empty}, m.Guest)
	}
	return fsc, nil
}

// Count is the number of files an instance holds open.
type Count struct {
	open atomic.Int64
	max  int64 // <= 0: no limit
	// roots counts the preopened folders wazero opened (lazily, on first
	// use): a snapshot's init may leave those open, nothing else.
	roots atomic.Int64
}

// NewCount returns a counter that refuses opens past max (<= 0: no limit).
func NewCount(max int) *Count { return &Count{max: int64(max)} }

// GuestOpen is the number of files the guest itself holds open.
func (n *Count) GuestOpen() int64 { return n.open.Load() - n.roots.Load() }

// errTooManyFiles is what a guest over its files cap gets. wazero 1.12's
// sys.Errno has no EMFILE (a file system can return only the errnos it
// lists; any other becomes EIO), so the closest it can say is EAGAIN,
// "resource temporarily unavailable".
const errTooManyFiles = experimentalsys.EAGAIN

// countedFS counts the files opened through FS against the instance's cap.
type countedFS struct {
	experimentalsys.FS
	n *Count
	// rooted: the preopened folder was opened. The guest can open "."
	// read-only too (open("/lib", O_RDONLY) in C): only the first such
	// open, wazero's own, is the root.
	rooted atomic.Bool
	// freeRoot: the preopened folder itself is not counted (the empty
	// root, which holds nothing of the host's); what the guest opens is.
	freeRoot bool
}

// OpenFile implements experimentalsys.FS.
func (c *countedFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if c.freeRoot && p == "." && flag == experimentalsys.O_RDONLY && c.rooted.CompareAndSwap(false, true) {
		return c.FS.OpenFile(p, flag, perm)
	}
	if n := c.n.open.Add(1); c.n.max > 0 && n > c.n.max {
		c.n.open.Add(-1)
		return nil, errTooManyFiles
	}
	f, e := c.FS.OpenFile(p, flag, perm)
	if e != 0 {
		c.n.open.Add(-1)
		return nil, e
	}
	// wazero opens a preopened folder as "." read-only the first time the
	// guest uses it (internal/sys/lazy.go).
	root := p == "." && flag == experimentalsys.O_RDONLY && c.rooted.CompareAndSwap(false, true)
	if root {
		c.n.roots.Add(1)
	}
	return &countedFile{File: f, n: c.n, root: root}, 0
}

// countedFile gives its place back when closed, by the guest or by the
// instance's close.
type countedFile struct {
	experimentalsys.File
	n      *Count
	closed bool
	root   bool
}

func (f *countedFile) Close() experimentalsys.Errno {
	if !f.closed {
		f.closed = true
		f.n.open.Add(-1)
		if f.root {
			f.n.roots.Add(-1)
		}
	}
	return f.File.Close()
}
