package wasi

import (
	"time"

	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// The engine's side of stored interpreter snapshots (snap.Store.Fresh
// and SaveDeps have the files): a snapshot whose init read volumes is
// loaded by a later start only while what it read is unchanged and it is
// younger than snapshot_max_age; a retake for fresh randomness is never
// loaded.

// loadStored returns the snapshot of key stored by an earlier start when
// nothing its init read has changed, or nil (a miss: the caller takes it).
func (m *Module) loadStored(key string, in snap.Inputs) *snapshot {
	e := m.engine
	if e.sealed == nil || in.Fresh {
		return nil
	}
	st, err := e.snaps.Fresh(key, in, e.snapMaxAge(), e.roots.Open)
	if err != nil {
		return nil
	}
	s := e.loadSnapshot(m.rt, key, m, st.Holds)
	if s == nil {
		return nil
	}
	s.taken, s.deps = st.Taken, st.Files
	return s
}

// storeSnapshot stores a snapshot taken at taken with what its init read;
// failing to is not an error (the next start takes it again).
func (m *Module) storeSnapshot(key string, wasm, mem []byte, r *snap.Reads, taken time.Time) {
	e := m.engine
	if e.sealed == nil {
		return
	}
	// Gone first: a start that finds the new image with the old KEY.deps
	// (this one stopped half-way) must not use it.
	e.snaps.ForgetDeps(key)
	if r == nil {
		return
	}
	e.saveSnapshot(key, wasm, mem, m)
	e.snaps.SaveDeps(key, r, taken, wasm, mem)
}
