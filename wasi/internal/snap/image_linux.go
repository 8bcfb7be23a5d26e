package snap

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A snapshot's memory image lives in a memfd. Each instance's
// memory maps it MAP_PRIVATE over the start of its pooled region: the
// clean pages are the page cache's, shared by every instance of the
// snapshot, and a page the guest writes is copied for that instance only
// (copy-on-write). Instantiating costs one mmap and a page fault per page
// touched, not a copy of the image; after the request the same mmap
// (MAP_FIXED) throws the written copies away and restores the image.
//
// The memfd is not a file anyone else can open, and it is written once
// from the captured (or verified cached) bytes, so a changed cache file
// cannot alter a mapped image afterwards, as a MAP_PRIVATE of the cache
// file itself would allow for the pages not yet written.

// Image is a memory image of size bytes.
type Image struct {
	size uint64
	fd   int    // the memfd; -1 when the image is only in data
	data []byte // read-only view of the image (a shared mapping of fd)
	// copy: map nothing, copy data into each memory (the fallback, and
	// for measuring it).
	copy bool
}

// snapshotCopyMax is the largest image copied into each memory rather
// than mapped. Each page a guest touches in a mapped image costs a page
// fault (a copy, when it writes), which for small images cost more than
// copying the whole image: for the 1.1 MiB image of the reactor test
// guest, about 20 faults a request took 105 us a request against 60 us
// with a copy (BenchmarkSnapshot). Mapping is what keeps large images
// (an interpreter's) cheap to start and shared between instances.
var snapshotCopyMax = 2 << 20

// SetCopyMax sets the largest image copied rather than mapped and returns
// the old value, for tests and benchmarks of either path.
func SetCopyMax(n int) (old int) {
	old, snapshotCopyMax = snapshotCopyMax, n
	return old
}

// NewImage creates the image from mem (its length a multiple of the
// wasm page). Only the non-zero 4 KiB pages are written, so the zero
// ones take no memory.
func NewImage(mem []byte) (*Image, error) {
	img := &Image{size: uint64(len(mem)), fd: -1}
	if len(mem) == 0 {
		return img, nil
	}
	if len(mem) <= snapshotCopyMax {
		return copyImage(img, mem), nil
	}
	fd, err := unix.MemfdCreate("wasigate-snapshot", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return copyImage(img, mem), nil
	}
	if err := unix.Ftruncate(fd, int64(len(mem))); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("snapshot image: %w", err)
	}
	const page = 4096
	for off := 0; off < len(mem); off += page {
		p := mem[off:min(off+page, len(mem))]
		if isZero(p) {
			continue
		}
		if _, err := unix.Pwrite(fd, p, int64(off)); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("snapshot image: %w", err)
		}
	}
	// No one may change it from now on; private mappings stay allowed
	// (F_SEAL_FUTURE_WRITE, unlike F_SEAL_WRITE).
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_FUTURE_WRITE)
	data, err := unix.Mmap(fd, 0, len(mem), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return copyImage(img, mem), nil
	}
	img.fd, img.data = fd, data
	return img, nil
}

func copyImage(img *Image, mem []byte) *Image {
	img.data = append([]byte(nil), mem...)
	img.copy = true
	return img
}

// apply makes region[:size] hold the image: a private mapping of the
// memfd over it, or a copy.
func (img *Image) apply(region []byte) error {
	if img.size == 0 {
		return nil
	}
	r := region[:img.size]
	if img.copy || img.fd < 0 {
		copy(r, img.data)
		return nil
	}
	_, err := unix.MmapPtr(img.fd, 0, unsafe.Pointer(unsafe.SliceData(r)), uintptr(len(r)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("map snapshot image: %w", err)
	}
	return nil
}

// reset restores region[:size], to which apply mapped or copied the image,
// after use. A private file mapping stays: madvise(MADV_DONTNEED) drops
// the pages the guest wrote (and the page table entries of those it read),
// and the next access reads the memfd's page again. Mapping it afresh
// instead (mmap MAP_FIXED) cost a VMA split and merge each time and was
// slower; copying is for images not mapped.
func (img *Image) reset(region []byte) error {
	if img.size == 0 {
		return nil
	}
	r := region[:img.size]
	if img.copy || img.fd < 0 {
		copy(r, img.data)
		return nil
	}
	return unix.Madvise(r, unix.MADV_DONTNEED)
}

// Mapped reports whether the image is mapped into memories, not copied.
func (img *Image) Mapped() bool { return !img.copy && img.fd >= 0 }

// Close releases the image. Memories it was mapped into keep their
// mappings until they are unreserved.
func (img *Image) Close() {
	if img.fd >= 0 {
		_ = unix.Munmap(img.data)
		_ = unix.Close(img.fd)
		img.fd = -1
	}
	img.data = nil
}
