package wasi

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Finding the pages a mapped memory owns with the PAGEMAP_SCAN ioctl
// (Linux 6.7) rather than reading /proc/self/pagemap: the kernel walks the
// same page tables but answers with ranges of matching pages, not eight
// bytes for every page, which under load was a third of the reset's time
// (pagemap_read in a profile of Python requests). The pages it selects
// are those reset.go compares: anonymous (not the memfd's) and present or
// swapped out.

// pmScanArg is struct pm_scan_arg of linux/fs.h.
type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages       uint64
	categoryInverted, categoryMask, categoryAnyofMask, returnMask uint64
}

// pageRegion is struct page_region of linux/fs.h.
type pageRegion struct {
	start, end, categories uint64
}

const (
	// _IOWR('f', 16, struct pm_scan_arg)
	ioctlPagemapScan = 3<<30 | uint(unsafe.Sizeof(pmScanArg{}))<<16 | 'f'<<8 | 16
	pageIsFile       = 1 << 2
	pageIsPresent    = 1 << 3
	pageIsSwapped    = 1 << 4
)

// pageScanOff: the ioctl failed once (an older kernel), or a benchmark
// measures the pagemap read instead.
var pageScanOff atomic.Bool

var pagemapFd = sync.OnceValue(func() int {
	if f := pagemap(); f != nil {
		return int(f.Fd())
	}
	return -1
})

// scanOwned resets mem by comparing the pages PAGEMAP_SCAN reports owned.
// It returns false when the ioctl is not there, for reset to read the
// pagemap instead.
func (r *memoryReset) scanOwned(mem []byte) bool {
	fd := pagemapFd()
	if fd < 0 || pageScanOff.Load() || len(mem) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	if base%osPage != 0 {
		return false
	}
	// On the heap: the kernel writes to it through an address the
	// garbage collector does not see, and the heap does not move.
	vec := new([64]pageRegion)
	end := uint64(base) + uint64(len(mem)+osPage-1)/osPage*osPage
	arg := pmScanArg{
		start:             uint64(base),
		end:               end,
		vec:               uint64(uintptr(unsafe.Pointer(&vec[0]))),
		vecLen:            uint64(len(vec)),
		categoryInverted:  pageIsFile,
		categoryMask:      pageIsFile,
		categoryAnyofMask: pageIsPresent | pageIsSwapped,
		returnMask:        pageIsFile | pageIsPresent | pageIsSwapped,
	}
	arg.size = uint64(unsafe.Sizeof(arg))
	r.owned, r.copied = 0, 0
	for arg.start < end {
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(ioctlPagemapScan), uintptr(unsafe.Pointer(&arg)))
		runtime.KeepAlive(vec)
		if errno != 0 {
			if arg.start == uint64(base) {
				pageScanOff.Store(true)
				return false
			}
			// Failed halfway: what is left is compared by the caller's
			// way, from the start (comparing twice is still exact).
			return false
		}
		for _, v := range vec[:n] {
			for p := v.start; p < v.end; p += osPage {
				r.owned += osPage
				r.restore(mem, int(uintptr(p)-base))
			}
		}
		if arg.walkEnd <= arg.start {
			return false
		}
		arg.start = arg.walkEnd
	}
	return true
}
