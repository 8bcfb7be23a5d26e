package router

import (
	"os"
	"path/filepath"
	"sync"
)

// scriptsRoot is the os.Root of a scripts folder that follows a folder
// renamed into its place (mv scripts old; mv new scripts), as Apache,
// which opens paths afresh, does: each use stats the path, and a folder
// that is no longer the one opened is opened again. A root replaced is
// not kept: a request still reading through one holds it, and the
// garbage collector closes it (os.Root's finalizer) once none does, so a
// deploy that swaps the folder every minute does not pile up one
// descriptor, and one deleted folder held open, per swap.
type scriptsRoot struct {
	dir string

	mu   sync.Mutex
	root *os.Root
	info os.FileInfo
}

func openScriptsRoot(dir string) (*scriptsRoot, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &scriptsRoot{dir: dir, root: root, info: info}, nil
}

// get returns the root of the folder now at the path (the one opened
// last when the path is gone, cannot be opened, or is not a folder). A
// symbolic link renamed into the path or a parent's is not followed: its
// target was never checked against cache_dir as the folder was at the
// start.
func (r *scriptsRoot) get() *os.Root {
	st, err := os.Lstat(r.dir)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || !st.IsDir() || os.SameFile(st, r.info) {
		return r.root
	}
	if real, err := filepath.EvalSymlinks(r.dir); err != nil || real != filepath.Clean(r.dir) {
		return r.root // a link renamed in place of a parent
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return r.root
	}
	if in, err := root.Stat("."); err != nil || !os.SameFile(in, st) {
		root.Close() // a link renamed in between the look and the open
		return r.root
	}
	r.root, r.info = root, st
	return root
}

// Stat is os.Root.Stat in the folder now at the path.
func (r *scriptsRoot) Stat(name string) (os.FileInfo, error) { return r.get().Stat(name) }

// Close closes the root now in use; those replaced close when the
// requests reading through them are done.
func (r *scriptsRoot) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.root.Close()
}
