package wasi

import (
	"context"

	"github.com/tetratelabs/wazero"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// The engine's side of the snapshot cache (snap.Store has the files):
// a snapshot loaded or saved is held by its module, like compiled code,
// and marked used while the engine runs.

// loadSnapshot returns the cached snapshot of key, or nil; owner holds
// its files until it is closed. holds says whether the files are the
// ones written for key (their signatures do not name it): when not, they
// are deleted and nil returned.
func (e *Engine) loadSnapshot(rt wazero.Runtime, key string, owner *Module, holds func(wasm, mem []byte) bool) *snapshot {
	if e.sealed == nil {
		return nil
	}
	wasm, mem, wasmPath, ok := e.snaps.Load(key)
	if !ok {
		return nil
	}
	if !holds(wasm, mem) {
		e.snaps.Drop(key)
		return nil
	}
	img, err := snap.NewImage(mem)
	if err != nil {
		return nil
	}
	s, codeHash, funcs, err := e.compileSnapshot(context.Background(), rt, wasm)
	if err != nil {
		img.Close()
		e.snaps.Drop(key)
		return nil
	}
	e.sealed.use(wasmPath)
	e.holdFor(owner, wasmPath, e.markerPath(codeHash))
	s.image = img
	s.info = seam.Snapshot{On: true, Cached: true, Image: img.Size(), Mapped: !img.Copied(),
		Code: e.codeSize(codeHash, funcs), SharedCode: s.shared != nil}
	return s
}

// saveSnapshot stores a snapshot taken now; failing to is not an error
// (the next start takes it again). owner holds its files until it is
// closed.
func (e *Engine) saveSnapshot(key string, wasm, mem []byte, owner *Module) {
	if e.sealed == nil {
		return
	}
	wasmPath, ok := e.snaps.Save(key, wasm, mem)
	if !ok {
		return
	}
	e.sealed.use(wasmPath)
	e.holdFor(owner, wasmPath, e.markerPath(sha256Hex(wasm)))
	e.sealed.trim()
}

func sha256Hex(b []byte) string { return snap.SHA256Hex(b) }
