package guestfs

import (
	"io"
	"io/fs"
	"time"

	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// A guest's "/" is an empty read-only folder, preopened after its volumes.
// wasi-libc (and Go's wasip1 runtime) resolve a path through the preopen
// with the longest matching prefix, and a path no preopen holds fails with
// ENOTCAPABLE, errno 76, which Python raises as PermissionError: code that
// catches FileNotFoundError for a missing file would not catch it. Under
// the empty root such a path is absent (ENOENT), as in a container. It is
// last so that a Go guest without PWD still starts in its first volume
// (Go takes the first preopen as its working directory).
const rootGuest = "/"

// withRoot returns mounts with the empty root folder appended, unless a
// volume is mounted at "/" already (or "/.", "//": wazero's FSConfig would
// put the empty root in that volume's place).
func withRoot(mounts []Mount) []Mount {
	for _, m := range mounts {
		if mountKey(m.Guest) == mountKey(rootGuest) {
			return mounts
		}
	}
	out := make([]Mount, len(mounts), len(mounts)+1)
	copy(out, mounts)
	return append(out, Mount{Guest: rootGuest, FS: theEmptyRoot})
}

// theEmptyRoot holds no state: every instance shares it.
var theEmptyRoot = emptyRoot{&sysfs.AdaptFS{FS: emptyFolder{}}}

// emptyRoot is the empty root's file system, told apart from a volume's.
type emptyRoot struct{ *sysfs.AdaptFS }

// emptyFolder is an fs.FS holding only itself.
type emptyFolder struct{}

func (emptyFolder) Open(name string) (fs.File, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return emptyFolderFile{}, nil
}

type emptyFolderFile struct{}

func (emptyFolderFile) Stat() (fs.FileInfo, error) { return emptyFolderInfo{}, nil }
func (emptyFolderFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}
func (emptyFolderFile) Close() error { return nil }
func (emptyFolderFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if n > 0 {
		return nil, io.EOF
	}
	return nil, nil
}

type emptyFolderInfo struct{}

func (emptyFolderInfo) Name() string       { return "." }
func (emptyFolderInfo) Size() int64        { return 0 }
func (emptyFolderInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (emptyFolderInfo) ModTime() time.Time { return time.Time{} }
func (emptyFolderInfo) IsDir() bool        { return true }
func (emptyFolderInfo) Sys() any           { return nil }
