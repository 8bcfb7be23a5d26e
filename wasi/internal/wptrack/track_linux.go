package wptrack

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's interfaces, from include/uapi/linux/userfaultfd.h and
// fs.h (Linux 6.7): the installed headers may predate them.
const (
	uffdUserModeOnly = 1 // only faults from user mode are delivered
	uffdAPI          = 0xaa
	featWPAsync      = 1 << 15

	ioAPI          = 0xc018aa3f // UFFDIO_API
	ioRegister     = 0xc020aa00 // UFFDIO_REGISTER
	ioUnregister   = 0x8010aa01 // UFFDIO_UNREGISTER
	ioWriteProtect = 0xc018aa06 // UFFDIO_WRITEPROTECT
	registerModeWP = 1 << 1
	writeProtectWP = 1 << 0

	ioPagemapScan    = 0xc0606610 // PAGEMAP_SCAN
	scanWPMatching   = 1 << 0     // set the protect bit of the pages listed
	scanCheckWPAsync = 1 << 1     // fail unless the range is tracked asynchronously
	pageIsWritten    = 1 << 1
)

type uffdioAPI struct{ api, features, ioctls uint64 }

type uffdioRange struct{ start, len uint64 }

type uffdioRegister struct {
	rng          uffdioRange
	mode, ioctls uint64
}

type uffdioWriteProtect struct {
	rng  uffdioRange
	mode uint64
}

type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages       uint64
	categoryInverted, categoryMask, categoryAnyofMask, returnMask uint64
}

type pageRegion struct{ start, end, categories uint64 }

// Range is the pages [Start, End) of a region, as byte offsets.
type Range struct{ Start, End uint64 }

type tracker struct {
	uffd    int      // the userfaultfd, WP_ASYNC
	pagemap *os.File // /proc/self/pagemap, for PAGEMAP_SCAN
}

var state = sync.OnceValues(open)

// Available reports why tracking cannot be used; nil when it can.
func Available() error {
	_, err := state()
	return err
}

func open() (*tracker, error) {
	// User-mode-only needs no privilege where unprivileged_userfaultfd is
	// 0, and loses nothing: asynchronous write-protect faults are resolved
	// by the kernel whether the write came from user or kernel mode, and
	// no fault is ever delivered to the descriptor.
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly, 0, 0)
	if errno != 0 {
		return nil, fmt.Errorf("userfaultfd: %w", errno)
	}
	api := uffdioAPI{api: uffdAPI, features: featWPAsync}
	if err := ioctl(int(fd), ioAPI, unsafe.Pointer(&api)); err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("userfaultfd asynchronous write-protect (Linux 6.7): %w", err)
	}
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		unix.Close(int(fd))
		return nil, err
	}
	t := &tracker{uffd: int(fd), pagemap: pm}
	if err := t.selfTest(); err != nil {
		pm.Close()
		unix.Close(int(fd))
		return nil, fmt.Errorf("write-protect tracking self-test: %w", err)
	}
	return t, nil
}

// selfTest tracks a scratch mapping and checks that exactly the page
// written, and then none, is listed.
func (t *tracker) selfTest() error {
	const size = 4 * pageSize
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	for i := range mem {
		mem[i] = 1
	}
	r, err := t.register(mem)
	if err != nil {
		return err
	}
	defer r.Close()
	mem[2*pageSize+5] = 2
	got, err := r.Written(nil, true)
	if err != nil {
		return err
	}
	if len(got) != 1 || got[0] != (Range{2 * pageSize, 3 * pageSize}) {
		return fmt.Errorf("listed %v after a write to page 2", got)
	}
	if got, err = r.Written(got[:0], false); err != nil || len(got) != 0 {
		return fmt.Errorf("listed %v (%v) after protecting again", got, err)
	}
	return nil
}

const pageSize = 4096

// Region is a tracked range of memory.
type Region struct {
	t    *tracker
	base uint64
	size uint64
	vec  []pageRegion
}

var errAlign = errors.New("memory not page aligned")

// Register tracks mem from now on: every page is marked clean.
func Register(mem []byte) (*Region, error) {
	t, err := state()
	if err != nil {
		return nil, err
	}
	return t.register(mem)
}

func (t *tracker) register(mem []byte) (*Region, error) {
	base := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
	size := uint64(len(mem))
	if base%pageSize != 0 || size%pageSize != 0 || size == 0 {
		return nil, errAlign
	}
	reg := uffdioRegister{rng: uffdioRange{base, size}, mode: registerModeWP}
	if err := ioctl(t.uffd, ioRegister, unsafe.Pointer(&reg)); err != nil {
		return nil, fmt.Errorf("register for write-protect: %w", err)
	}
	r := &Region{t: t, base: base, size: size}
	if err := r.Protect(0, size); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Protect marks the pages [off, off+n) clean.
func (r *Region) Protect(off, n uint64) error {
	wp := uffdioWriteProtect{rng: uffdioRange{r.base + off, n}, mode: writeProtectWP}
	if err := ioctl(r.t.uffd, ioWriteProtect, unsafe.Pointer(&wp)); err != nil {
		return fmt.Errorf("write-protect: %w", err)
	}
	return nil
}

// Written appends to dst the pages written since they were marked clean,
// in order, adjacent ones merged; with protect, it marks them clean in
// the same walk.
func (r *Region) Written(dst []Range, protect bool) ([]Range, error) {
	if r.vec == nil {
		r.vec = make([]pageRegion, 256)
	}
	flags := uint64(scanCheckWPAsync)
	if protect {
		flags |= scanWPMatching
	}
	start, end := r.base, r.base+r.size
	for start < end {
		arg := pmScanArg{
			size: uint64(unsafe.Sizeof(pmScanArg{})), flags: flags, start: start, end: end,
			vec: uint64(uintptr(unsafe.Pointer(&r.vec[0]))), vecLen: uint64(len(r.vec)),
			categoryMask: pageIsWritten, returnMask: pageIsWritten,
		}
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, r.t.pagemap.Fd(), ioPagemapScan, uintptr(unsafe.Pointer(&arg)))
		if errno != 0 {
			return dst, fmt.Errorf("pagemap scan: %w", errno)
		}
		for _, v := range r.vec[:n] {
			s, e := v.start-r.base, v.end-r.base
			if k := len(dst); k > 0 && dst[k-1].End == s {
				dst[k-1].End = e
				continue
			}
			dst = append(dst, Range{s, e})
		}
		if arg.walkEnd <= start {
			return dst, errors.New("pagemap scan made no progress")
		}
		start = arg.walkEnd
	}
	return dst, nil
}

// Close stops tracking: the range is unregistered, so that its region,
// given to another memory, takes no write-protect faults.
func (r *Region) Close() {
	if r == nil || r.t == nil {
		return
	}
	rng := uffdioRange{r.base, r.size}
	_ = ioctl(r.t.uffd, ioUnregister, unsafe.Pointer(&rng))
	r.t = nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
