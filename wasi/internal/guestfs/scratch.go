package guestfs

import (
	"os"
	"path/filepath"
)

// A scratch folder is writable at the guest path a route configures, under
// a quota of bytes (quota.go), and holds nothing one request wrote when
// the next starts: Python's tempfile and cgi.FieldStorage need a writable
// folder.

// OpenScratch mounts the folder dir, which the caller creates for one call
// and removes after it, at guest under a quota of size bytes, through an
// os.Root of its own that close closes after the call (Roots are for
// volumes that outlive a call; one per request would pile up).
func OpenScratch(dir, guest string, size int64) (m Mount, close func(), err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Mount{}, nil, err
	}
	fs := &quotaFS{FS: &rootFS{root: root}, q: &quota{max: size}}
	return Mount{Guest: guest, FS: fs, Root: root, Writable: true}, func() { root.Close() }, nil
}

// Scratch is a reused instance's scratch folder: one folder for the
// instance's life, emptied after each request.
type Scratch struct {
	dir   string
	root  *os.Root
	fs    *quotaFS
	Mount Mount
	size  int64
}

// NewScratch makes a folder under the system's temporary folder, mounted
// at guest under a quota of size bytes.
func NewScratch(guest string, size int64) (*Scratch, error) {
	dir, err := os.MkdirTemp("", "wasigate-scratch-")
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Scratch{dir: dir, root: root, size: size}
	s.fs = &quotaFS{FS: &rootFS{root: root}, q: &quota{max: size}}
	s.Mount = Mount{Guest: guest, FS: s.fs, Root: root, Writable: true}
	return s, nil
}

// Clear empties the folder for the next request, quota included: what one
// request wrote there is never seen by the next. A nil Scratch is empty.
func (s *Scratch) Clear() error {
	if s == nil {
		return nil
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
			return err
		}
	}
	s.fs.q = &quota{max: s.size}
	return nil
}

// Remove closes the folder's root and removes it.
func (s *Scratch) Remove() {
	if s == nil {
		return
	}
	s.root.Close()
	os.RemoveAll(s.dir)
}
