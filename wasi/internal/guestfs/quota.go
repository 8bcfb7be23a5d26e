package guestfs

import (
	"io"
	"io/fs"
	"math"
	"sync"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// A call's scratch folder holds at most Config.ScratchSize bytes (issue
// 14): without a cap one request could fill the host's disk. quotaFS
// counts, for the files the guest writes, how far each grows (a write or
// a truncate past its end), gives back what it shrinks or deletes, and
// charges quotaEntry for each file or folder it creates, so that a
// million empty files count too. What would exceed the cap fails with EIO
// (wazero 1.12's WASI errnos have no ENOSPC) and writes nothing.

// quotaEntry is what a created file or folder costs: one block.
const quotaEntry = 4096

// errQuota is what a guest over its scratch cap gets.
const errQuota = experimentalsys.EIO

// quota is the bytes a call's scratch folder may still take.
type quota struct {
	mu   sync.Mutex
	used int64
	max  int64
	// open counts the guest's descriptors by inode: a file deleted while
	// one is open keeps its bytes on disk until the last one closes.
	open map[uint64]int
}

func (q *quota) take(n int64) bool {
	if n <= 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	// used is in [0, max]: max-used cannot wrap, used+n could (a
	// truncate to 1<<63-1 on tmpfs).
	if n > q.max-q.used {
		return false
	}
	q.used += n
	return true
}

func (q *quota) give(n int64) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.used = max(0, q.used-n)
	q.mu.Unlock()
}

// quotaFS is a scratch folder's file system under q.
type quotaFS struct {
	experimentalsys.FS
	q *quota
}

// OpenFile implements experimentalsys.FS.
func (f *quotaFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	st, e := f.FS.Lstat(p)
	exists := e == 0
	if !exists && flag&experimentalsys.O_CREAT != 0 && !f.q.take(quotaEntry) {
		return nil, errQuota
	}
	file, e := f.FS.OpenFile(p, flag, perm)
	if e != 0 {
		if !exists && flag&experimentalsys.O_CREAT != 0 {
			f.q.give(quotaEntry)
		}
		return nil, e
	}
	if exists && flag&experimentalsys.O_TRUNC != 0 && st.Mode.IsRegular() {
		f.q.give(st.Size) // the inode's bytes, whatever its links
	}
	ost, e := file.Stat()
	if e != 0 {
		file.Close()
		return nil, e
	}
	f.q.mu.Lock()
	if f.q.open == nil {
		f.q.open = map[uint64]int{}
	}
	f.q.open[ost.Ino]++
	f.q.mu.Unlock()
	return &quotaFile{File: file, q: f.q, ino: ost.Ino}, 0
}

// Mkdir implements experimentalsys.FS.
func (f *quotaFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	return f.newEntry(func() experimentalsys.Errno { return f.FS.Mkdir(p, perm) })
}

// Link implements experimentalsys.FS.
func (f *quotaFS) Link(oldPath, newPath string) experimentalsys.Errno {
	return f.newEntry(func() experimentalsys.Errno { return f.FS.Link(oldPath, newPath) })
}

// newEntry charges a folder's or a name's block, then makes it; a failure
// gives the block back.
func (f *quotaFS) newEntry(make func() experimentalsys.Errno) experimentalsys.Errno {
	if !f.q.take(quotaEntry) {
		return errQuota
	}
	e := make()
	if e != 0 {
		f.q.give(quotaEntry)
	}
	return e
}

// freed is what deleting the entry st describes gives back: its block,
// and its bytes when it is a file's last name and no descriptor holds it
// (then quotaFile.Close gives them back).
func (q *quota) freed(st sys.Stat_t) int64 {
	n := int64(quotaEntry)
	if st.Mode.IsRegular() && st.Nlink <= 1 {
		q.mu.Lock()
		open := q.open[st.Ino] > 0
		q.mu.Unlock()
		if !open {
			n += st.Size
		}
	}
	return n
}

// Unlink implements experimentalsys.FS.
func (f *quotaFS) Unlink(p string) experimentalsys.Errno {
	st, e := f.FS.Lstat(p)
	if e = f.FS.Unlink(p); e == 0 {
		f.q.give(f.q.freed(st))
	}
	return e
}

// Rmdir implements experimentalsys.FS.
func (f *quotaFS) Rmdir(p string) experimentalsys.Errno {
	e := f.FS.Rmdir(p)
	if e == 0 {
		f.q.give(quotaEntry)
	}
	return e
}

// Rename implements experimentalsys.FS: a file renamed over another frees
// the other. Renaming a name onto itself, or onto another name of the
// same file, changes nothing (rename(2)) and frees nothing.
func (f *quotaFS) Rename(from, to string) experimentalsys.Errno {
	st, te := f.FS.Lstat(to)
	if te == 0 {
		if fst, fe := f.FS.Lstat(from); fe == 0 && fst.Dev == st.Dev && fst.Ino == st.Ino {
			te = experimentalsys.ENOENT
		}
	}
	e := f.FS.Rename(from, to)
	if e == 0 && te == 0 {
		f.q.give(f.q.freed(st))
	}
	return e
}

// quotaFile charges a file's growth to its folder's quota.
type quotaFile struct {
	experimentalsys.File
	q      *quota
	ino    uint64
	closed bool
}

// Close gives back the bytes of a file deleted while open, when this was
// its last descriptor.
func (f *quotaFile) Close() experimentalsys.Errno {
	if !f.closed {
		f.closed = true
		f.q.mu.Lock()
		f.q.open[f.ino]--
		last := f.q.open[f.ino] <= 0
		if last {
			delete(f.q.open, f.ino)
		}
		f.q.mu.Unlock()
		if st, e := f.File.Stat(); last && e == 0 && st.Nlink == 0 && st.Mode.IsRegular() {
			f.q.give(st.Size)
		}
	}
	return f.File.Close()
}

// grow takes what writing n bytes at off adds to the file; false when the
// quota has not that much left or off+n is not a file size.
func (f *quotaFile) grow(off, n int64) (size, add int64, ok bool) {
	st, e := f.File.Stat()
	if e != 0 || off < 0 || n > math.MaxInt64-off {
		return 0, 0, false
	}
	add = off + n - st.Size
	return st.Size, add, f.q.take(add)
}

// settle gives back what a write took beyond what the file grew: all of
// it when the write failed or wrote nothing (a write of no bytes past the
// end does not extend the file).
func (f *quotaFile) settle(size, add int64, n, want int) {
	if add <= 0 {
		return
	}
	if st, e := f.File.Stat(); e == 0 {
		f.q.give(add - max(0, st.Size-size))
	} else if short := int64(want - n); short > 0 {
		f.q.give(min(add, short))
	}
}

func (f *quotaFile) Write(p []byte) (int, experimentalsys.Errno) {
	off := int64(0)
	if f.File.IsAppend() {
		st, e := f.File.Stat()
		if e != 0 {
			return 0, e
		}
		off = st.Size
	} else {
		var e experimentalsys.Errno
		if off, e = f.File.Seek(0, io.SeekCurrent); e != 0 {
			return 0, e
		}
	}
	size, add, ok := f.grow(off, int64(len(p)))
	if !ok {
		return 0, errQuota
	}
	n, e := f.File.Write(p)
	f.settle(size, add, n, len(p))
	return n, e
}

func (f *quotaFile) Pwrite(p []byte, off int64) (int, experimentalsys.Errno) {
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	size, add, ok := f.grow(off, int64(len(p)))
	if !ok {
		return 0, errQuota
	}
	n, e := f.File.Pwrite(p, off)
	f.settle(size, add, n, len(p))
	return n, e
}

func (f *quotaFile) Truncate(size int64) experimentalsys.Errno {
	if size < 0 {
		return experimentalsys.EINVAL
	}
	st, e := f.File.Stat()
	if e != 0 {
		return e
	}
	if !f.q.take(size - st.Size) {
		return errQuota
	}
	if e := f.File.Truncate(size); e != 0 {
		f.q.give(size - st.Size)
		return e
	}
	f.q.give(st.Size - size)
	return 0
}
