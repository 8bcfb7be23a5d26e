package wasi

import (
	"errors"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// ScratchGuestDir is where a call's scratch folder appears (Call.Scratch).
const ScratchGuestDir = "/tmp"

// withScratch adds a call's scratch folder, writable at /tmp, to the
// program's volumes, through an os.Root of its own that the returned
// function closes after the call (the engine's shared roots are for
// volumes that outlive a call; one per request would pile up). The caller
// creates and removes the folder, so that nothing one request writes there
// is seen by the next (issue 14: Python's tempfile and cgi.FieldStorage
// need a writable folder).
func (p *Program) withScratch(cfg wazero.ModuleConfig, dir string) (wazero.ModuleConfig, func(), error) {
	fsc := p.fsc
	if fsc == nil {
		fsc = wazero.NewFSConfig()
	}
	sfs, ok := fsc.(sysfs.FSConfig)
	if !ok {
		return nil, nil, errors.New("wazero's FSConfig does not take a sys.FS")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	return cfg.WithFSConfig(sfs.WithSysFSMount(&rootFS{root: root}, ScratchGuestDir)), func() { root.Close() }, nil
}
