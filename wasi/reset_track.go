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
// each reset, but no request pays a fault to write it. Every
// reprotectEvery resets, every page is marked clean again, in the walk
// that lists them.
//
// Exact: a page not listed was written by no one (guest, host or kernel)
// since it was last equal to the image, and every page not marked clean
// is listed. Any failure of the kernel's calls falls back to comparing,
// for good for that instance.

// reprotectEvery is how many resets pass between two markings of every
// page clean. Between them the pages written stay listed, whether or not
// a later request writes them again: most pages a request writes are
// written by every request (an interpreter's stacks, arenas and reference
// counts, which are often back to the image's bytes at the end), and
// marking them clean at each reset cost a fault per page per request
// (a WSGI hello: 336 pages written a request, 102 of them equal at the
// end in 85 ranges) and a TLB flush per write-protect call, which made it
// three times slower than comparing. Marking everything clean now and
// then drops the pages that only some requests write.
var reprotectEvery = 64

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
	mu       sync.Mutex      // the memory's free (untrack) may come from wazero's goroutine
	canTrack bool            // a pooled region of its own, which may be registered
	track    *wptrack.Region // nil until registered, or without tracking
	written  []wptrack.Range // reused between resets
	clean    []wptrack.Range // the written pages found equal to the image
	ever     []uint64        // a mapped memory's pages ever written (owned), one bit each
	resets   int             // tracked resets, for tests
}

// reset makes mem equal to the image. mem must be as long as the image.
func (r *memoryReset) reset(mem []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.track != nil {
		err := r.resetTracked(mem)
		if err == nil {
			return nil
		}
		r.track.Close()
		r.track = nil
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
	for _, g := range r.written {
		for off := int(g.Start); off < int(g.End) && off < len(mem); off += osPage {
			if r.mapped && r.markOwned(off/osPage) {
				r.owned += osPage
			}
			r.restore(mem, off)
		}
	}
	if r.resets%reprotectEvery == reprotectEvery-1 {
		// Every page is the image's now: mark them all clean again.
		if _, err := r.track.Written(r.written[:0], true); err != nil {
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
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.canTrack = false
	if r.track != nil {
		r.track.Close()
		r.track = nil
	}
}
