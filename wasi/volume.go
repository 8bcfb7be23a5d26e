package wasi

import (
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
)

// withReadOnlyVolume mounts v through an os.Root, which refuses every path
// that leaves the folder, including symbolic links inside it that point
// outside. wazero's own WithReadOnlyDirMount follows such links.
func withReadOnlyVolume(fsc wazero.FSConfig, v Volume) (wazero.FSConfig, error) {
	root, err := os.OpenRoot(v.Host)
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", v.Guest, err)
	}
	// The root stays open for the life of the process: every instance of
	// the route shares it, read-only.
	return fsc.WithFSMount(root.FS(), v.Guest), nil
}
