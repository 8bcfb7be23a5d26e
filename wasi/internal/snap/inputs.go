package snap

import (
	"os"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
)

// Inputs are what a snapshot's init depends on beyond the module:
// ruby.wasm's preload list and the guest paths of the preopened folders
// (wasi-libc lists the preopens once, in the init, so requests must see
// the same ones at the same descriptors).
type Inputs struct {
	Preload []string
	// Dirs are the preopened folders in a request's order; the init sees
	// an empty read-only folder at each, except those with an FS.
	Dirs []InitDir
	// Limit: Ruby's heap grows its memory as far as the limit lets it, so
	// the image of a larger limit may not fit a smaller one.
	Limit uint64
	// Args and Env: what a driver's wasigate_init gets.
	Args, Env []string
	// App: the init loads an application; not part of the key, which its
	// Env already makes distinct.
	App bool
	// Fresh: a retake for new randomness, never loaded from the cache
	// folder; not part of the key.
	Fresh bool
	// Learn: the interpreter learns its preloads from what requests
	// import; Learned is the list learned so far, which its init imports
	// after Preload. Both are in the key, so that each list's snapshot is
	// stored apart. LearnFailed, not in the key, is told of each learned
	// name the init could not import.
	Learn       bool
	Learned     []string
	LearnFailed func(name string)
}

// InitDir is a preopened folder as a snapshot's init sees it.
type InitDir struct {
	Guest string
	FS    experimentalsys.FS // nil: an empty folder
	Host  string             // the folder behind FS, for the key
}

// Key is the inputs written out, for a snapshot's cache key: two inputs
// with the same key give the init the same view.
func (in Inputs) Key() string {
	var b strings.Builder
	b.WriteString("limit " + strconv.FormatUint(in.Limit, 10) + "\npreload " + strconv.Quote(strings.Join(in.Preload, "\x00")) + "\ndirs")
	for _, d := range in.Dirs {
		b.WriteString(" " + strconv.Quote(d.Guest))
		if d.FS != nil {
			b.WriteString("=" + strconv.Quote(d.Host))
		}
	}
	b.WriteString("\nargs " + strconv.Quote(strings.Join(in.Args, "\x00")) + "\nenv " + strconv.Quote(strings.Join(in.Env, "\x00")))
	if in.Learn {
		b.WriteString("\nlearned " + strconv.Quote(strings.Join(in.Learned, "\x00")))
	}
	return b.String()
}

// SeesVolumes: the init reads host folders, whose files may change
// between two starts: what it read is recorded with the stored snapshot
// (deps.go).
func (in Inputs) SeesVolumes() bool {
	for _, d := range in.Dirs {
		if d.FS != nil {
			return true
		}
	}
	return false
}

// InitFS mounts the preopened folders of a snapshot's init: each dir's
// file system, or an empty read-only folder. The scratch instance lists the
// same preopens as a request, at the same descriptors (wasi-libc keeps the
// list it read in the init), without seeing a request's files. n counts
// what the init leaves open.
func InitFS(dirs []InitDir, n *guestfs.Count) (wazero.FSConfig, func(), error) {
	dir, err := os.MkdirTemp("", "wasigate-snapinit-")
	if err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.Remove(dir)
		return nil, nil, err
	}
	done := func() { root.Close(); os.Remove(dir) }
	var mounts []guestfs.Mount
	for _, d := range dirs {
		fs := d.FS
		if fs == nil {
			fs = &sysfs.AdaptFS{FS: root.FS()}
		}
		mounts = append(mounts, guestfs.Mount{Guest: d.Guest, FS: fs})
	}
	fsc, err := guestfs.ConfigCount(mounts, n)
	if err != nil {
		done()
		return nil, nil, err
	}
	return fsc, done, nil
}
