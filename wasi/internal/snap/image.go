package snap

// Size is the image's length in bytes, a multiple of the wasm page.
func (img *Image) Size() uint64 { return img.size }

// Data is a read-only view of the image.
func (img *Image) Data() []byte { return img.data }

// Copied reports whether the image is copied into each memory rather than
// mapped (small images, and where memfd is missing).
func (img *Image) Copied() bool { return img.copy }
