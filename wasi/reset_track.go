package wasi

import (
	"log/slog"
	"sync"

	"github.com/wasigate/wasigate/wasi/internal/wptrack"
)

// Tracking the pages written since the last reset (wasi/internal/wptrack):
// after an instance's first reset, which compares as reset.go describes,
// its memory is registered for the kernel's asynchronous write-protect
// tracking and every page is marked clean. A later reset lists the pages
// written since (one PAGEMAP_SCAN), compares only those with the image
// and copies back the ones that differ. A page every request writes (a
// stack, an allocator's arena) then stays unprotected: it is compared at
// each reset, but no request pays a fault to write it. The pages written
// that turned out equal are marked clean again, in at most
// protectRangesMax write-protect calls, each one TLB flush.
//
// Exact: a page not listed was written by no one (guest, host or kernel)
// since it was last equal to the image, and every page not marked clean
// is listed. Any failure of the kernel's calls falls back to comparing,
// for good for that instance.

// protectRangesMax bounds the write-protect calls of a reset; past it the
// clean pages are marked in one call over their span, hot pages between
// them included (they take one fault at their next write).
const protectRangesMax = 4

// resetTracking turns tracking on; off for measuring the comparing reset.
var resetTracking = true

// trackable reports whether write-protect tracking can be used, saying
// once why not when it cannot.
var trackable = sync.OnceValue(func() bool {
	err := wptrack.Available()
	if err != nil {
		slog.Warn("reused instances: pages written are found by comparing them with the image, as write-protect tracking is unavailable", "reason", err)
	}
	return err == nil
})

// tracking is a memoryReset's tracking state.
type tracking struct {
	canTrack bool            // a pooled region of its own, which may be registered
	track    *wptrack.Region // nil until registered, or without tracking
	written  []wptrack.Range // reused between resets
	clean    []wptrack.Range // the written pages found equal to the image
	ever     []uint64        // a mapped memory's pages ever written (owned), one bit each
	resets   int             // tracked resets, for tests
}

// reset makes mem equal to the image. mem must be as long as the image.
func (r *memoryReset) reset(mem []byte) error {
	if r.track != nil {
		err := r.resetTracked(mem)
		if err == nil {
			return nil
		}
		r.untrack()
		r.canTrack = false
	}
	if err := r.resetCompare(mem); err != nil {
		return err
	}
	if r.canTrack && resetTracking && len(mem) > 0 && trackable() {
		t, err := wptrack.Register(mem)
		if err != nil {
			r.canTrack = false
			return nil
		}
		r.track = t
	}
	return nil
}

func (r *memoryReset) resetTracked(mem []byte) error {
	r.copied = 0
	var err error
	r.written, err = r.track.Written(r.written[:0], false)
	if err != nil {
		return err
	}
	r.clean = r.clean[:0]
	for _, g := range r.written {
		for off := int(g.Start); off < int(g.End) && off < len(mem); off += osPage {
			if r.mapped && r.markOwned(off/osPage) {
				r.owned += osPage
			}
			if r.restore(mem, off) {
				continue
			}
			end := uint64(min(off+osPage, len(mem)))
			if k := len(r.clean); k > 0 && r.clean[k-1].End == uint64(off) {
				r.clean[k-1].End = end
			} else {
				r.clean = append(r.clean, wptrack.Range{Start: uint64(off), End: end})
			}
		}
	}
	if len(r.clean) > protectRangesMax {
		r.clean[0].End = r.clean[len(r.clean)-1].End
		r.clean = r.clean[:1]
	}
	for _, c := range r.clean {
		if err := r.track.Protect(c.Start, c.End-c.Start); err != nil {
			return err
		}
	}
	r.resets++
	return nil
}

// markOwned records page i as written, and reports whether it was not yet.
func (r *memoryReset) markOwned(i int) bool {
	w := i / 64
	if w >= len(r.ever) {
		r.ever = append(r.ever, make([]uint64, w+1-len(r.ever))...)
	}
	bit := uint64(1) << (i % 64)
	if r.ever[w]&bit != 0 {
		return false
	}
	r.ever[w] |= bit
	return true
}

// untrack stops tracking: before the region goes back to its pool.
func (r *memoryReset) untrack() {
	if r != nil && r.track != nil {
		r.track.Close()
		r.track = nil
	}
}
