package wasi

import (
	"os"

	"github.com/tetratelabs/wazero"
)

// withScratch adds a call's scratch folder, writable at Config.Scratch, to the
// program's volumes, through an os.Root of its own that the returned
// function closes after the call (the engine's shared roots are for
// volumes that outlive a call; one per request would pile up). Run
// creates and removes the folder, so that nothing one request writes there
// is seen by the next (issue 14: Python's tempfile and cgi.FieldStorage
// need a writable folder).
func (p *Program) withScratch(cfg wazero.ModuleConfig, dir string) (wazero.ModuleConfig, *mount, func(), error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	// The scratch folder counts against max_open_files like the volumes.
	fs := &quotaFS{FS: &rootFS{root: root}, q: &quota{max: p.scratchSize}}
	m := mount{guest: p.scratch, fs: fs, root: root, writable: true}
	mounts := append(p.mounts[:len(p.mounts):len(p.mounts)], m)
	fsc, err := fsConfig(mounts, p.files)
	if err != nil {
		root.Close()
		return nil, nil, nil, err
	}
	return cfg.WithFSConfig(fsc), &m, func() { root.Close() }, nil
}
