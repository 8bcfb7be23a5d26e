//go:build !linux

package wasi

// Without memfd the image is copied into each memory (issue 12).

// snapshotCopyMax: every image is copied here (see snapimage_linux.go).
var snapshotCopyMax = 2 << 20

type snapImage struct {
	size uint64
	data []byte
	copy bool
}

func newSnapImage(mem []byte) (*snapImage, error) {
	return &snapImage{size: uint64(len(mem)), data: append([]byte(nil), mem...), copy: true}, nil
}

func (img *snapImage) apply(region []byte) error {
	copy(region[:img.size], img.data)
	return nil
}

func (img *snapImage) close() { img.data = nil }

func (img *snapImage) reset(region []byte) error { return img.apply(region) }
