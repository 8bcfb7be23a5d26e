package wasi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"unsafe"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Putting a finished instance's memory and globals back to its starting
// state (reuse.go), in place: no madvise, munmap or mmap(MAP_FIXED), each
// of which is a TLB shootdown to every CPU running the process.
//
// Memory. Only pages that may differ from the starting image are compared
// with it, and only those that do are copied back. From an instance's
// second reset on, the kernel lists the pages written since the last
// reset (reset_track.go); its first reset, and every reset where the
// kernel cannot track writes, finds them as follows:
//
//   - a memory mapped copy-on-write from a snapshot's memfd
//     (internal/snap/image_linux.go): a page the guest never wrote is still the
//     memfd's page, which /proc/self/pagemap reports as a file page (bit
//     61) or not present; a page it ever wrote became the instance's own
//     anonymous copy. So only anonymous pages (present or swapped out) are
//     compared. The set of such pages is every page any request of this
//     instance wrote, which stops growing after a few requests;
//   - any other memory (a copied image, the data segments of a module
//     without a snapshot): every page is compared.
//
// Comparing is exact, so the result is the image whatever the guest did;
// a memory whose size changed is not reset at all (the instance is
// thrown away, as wazero cannot shrink a memory).

const osPage = 4096

// pagemap is /proc/self/pagemap, opened once; nil where it cannot be.
var pagemap = sync.OnceValue(func() *os.File {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil
	}
	return f
})

const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61
)

// memoryReset restores one instance's memory.
type memoryReset struct {
	image  []byte // the starting memory, as long as it
	mapped bool   // the memory maps image's memfd copy-on-write
	// entries: pagemap's words for the memory, reused between resets.
	entries []byte
	// owned: bytes of pages the instance holds as its own after the last
	// reset (its cost while idle): the anonymous pages of a mapped memory,
	// the whole memory otherwise.
	owned uint64
	// copied: bytes copied back by the last reset.
	copied   uint64
	tracking // reset_track.go
}

// errNoPagemap: the pagemap could not be read, so a mapped memory would
// have to be compared whole (exact, but a copy of the image's size).
var errNoPagemap = errors.New("pagemap unreadable")

// resetCompare makes mem equal to the image by comparing every page that
// may differ. mem must be as long as the image.
func (r *memoryReset) resetCompare(mem []byte) error {
	r.copied = 0
	if !r.mapped {
		r.owned = uint64(len(mem))
		for off := 0; off < len(mem); off += osPage {
			r.restore(mem, off)
		}
		return nil
	}
	pages := (len(mem) + osPage - 1) / osPage
	if cap(r.entries) < pages*8 {
		r.entries = make([]byte, pages*8)
	}
	entries := r.entries[:pages*8]
	f := pagemap()
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	if f == nil || base%osPage != 0 {
		return errNoPagemap
	}
	if n, err := f.ReadAt(entries, int64(base/osPage)*8); err != nil || n != len(entries) {
		return errNoPagemap
	}
	r.owned = 0
	for i := range pages {
		e := binary.LittleEndian.Uint64(entries[i*8:])
		if e&pmFile != 0 || e&(pmPresent|pmSwapped) == 0 {
			continue // the memfd's page: the image
		}
		r.owned += osPage
		r.markOwned(i)
		r.restore(mem, i*osPage)
	}
	return nil
}

// restore copies the page at off back from the image if it differs, and
// reports whether it did.
func (r *memoryReset) restore(mem []byte, off int) bool {
	end := min(off+osPage, len(mem))
	if bytes.Equal(mem[off:end], r.image[off:end]) {
		return false
	}
	copy(mem[off:end], r.image[off:end])
	r.copied += uint64(end - off)
	return true
}

// globalReset restores one instance's globals: the mutable ones it
// exports are set back, then every global is compared with its starting
// value. One that cannot be set (not exported) and differs fails the
// reset, so the instance is thrown away.
type globalReset struct {
	start []uint64
	set   []indexedGlobal
	// skip is the index of the deadline checks' counter when the module
	// does not export it (-1 otherwise): only the added checks read it,
	// and its value decides only which of the next checks passes through
	// Go, so a run from any value is the same run.
	skip int
}

type indexedGlobal struct {
	i int
	g api.MutableGlobal
}

// errGlobalType: a global whose whole value Get does not return.
var errGlobalType = errors.New("a global of vector or reference type")

// newGlobalReset records mod's globals as they are now, its starting
// state. exported names the export of global i, if any.
func newGlobalReset(mod api.Module, exported func(i int) string, skip int) (*globalReset, error) {
	im, ok := mod.(experimental.InternalModule)
	if !ok {
		return nil, errors.New("wazero does not expose the instance's globals")
	}
	n := im.NumGlobal()
	r := &globalReset{start: make([]uint64, n), skip: skip}
	for i := range n {
		g := im.Global(i)
		switch g.Type() {
		case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64:
		default:
			return nil, errGlobalType
		}
		r.start[i] = g.Get()
		if name := exported(i); name != "" {
			if mg, ok := mod.ExportedGlobal(name).(api.MutableGlobal); ok {
				r.set = append(r.set, indexedGlobal{i, mg})
			}
		}
	}
	return r, nil
}

// errGlobalChanged: a global the reset cannot set has another value.
var errGlobalChanged = errors.New("a global that is not exported changed")

func (r *globalReset) reset(mod api.Module) error {
	for _, s := range r.set {
		s.g.Set(r.start[s.i])
	}
	im := mod.(experimental.InternalModule)
	for i, v := range r.start {
		if i != r.skip && im.Global(i).Get() != v {
			return errGlobalChanged
		}
	}
	return nil
}
