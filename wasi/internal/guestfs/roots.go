package guestfs

import (
	"os"
	"path/filepath"
	"sync"
)

// Roots are the os.Roots of the folders an engine mounts. Every route,
// reload and rebuilt script that mounts the same folder shares one, so
// that file descriptors do not grow with each Prepare; a folder replaced
// at the same path (a ConfigMap's swap, say) gets a new root. The zero
// value is ready to use.
type Roots struct {
	mu    sync.Mutex
	roots map[string]*openRoot
}

// Open returns the shared os.Root of the folder dir.
func (e *Roots) Open(dir string) (*os.Root, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	key := dir
	if abs, err := filepath.Abs(dir); err == nil {
		key = abs
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.roots[key]; r != nil && os.SameFile(r.info, st) {
		return r.root, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if e.roots == nil {
		e.roots = map[string]*openRoot{}
	}
	// A replaced folder's old root stays open: instances prepared with it
	// may still run.
	e.roots[key] = &openRoot{root: root, info: st}
	return root, nil
}

type openRoot struct {
	root *os.Root
	info os.FileInfo
}

// Close closes every root; the next Open opens anew.
func (e *Roots) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.roots {
		r.root.Close()
	}
	e.roots = nil
}
