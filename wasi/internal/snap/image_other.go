//go:build !linux

package snap

// Without memfd the image is copied into each memory.

// snapshotCopyMax: every image is copied here (see image_linux.go).
var snapshotCopyMax = 2 << 20

// SetCopyMax is image_linux.go's; every image is copied here.
func SetCopyMax(n int) (old int) {
	old, snapshotCopyMax = snapshotCopyMax, n
	return old
}

// Image is a memory image of size bytes, copied into each memory.
type Image struct {
	size uint64
	data []byte
	copy bool
}

// NewImage copies mem.
func NewImage(mem []byte) (*Image, error) {
	return &Image{size: uint64(len(mem)), data: append([]byte(nil), mem...), copy: true}, nil
}

func (img *Image) apply(region []byte) error {
	copy(region[:img.size], img.data)
	return nil
}

// Mapped is false: without memfd nothing is mapped.
func (img *Image) Mapped() bool { return false }

// Close releases the image.
func (img *Image) Close() { img.data = nil }

func (img *Image) reset(region []byte) error { return img.apply(region) }
